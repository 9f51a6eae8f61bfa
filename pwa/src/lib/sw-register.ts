// The service worker precaches the app shell so the app opens offline; updates apply on reload.
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  void import('workbox-window').then(({ Workbox }) => {
    const wb = new Workbox('/sw.js');
    void wb.register();
  });
}
