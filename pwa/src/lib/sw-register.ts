// The service worker precaches the app shell so the app opens offline; updates apply on reload.
// Registration failing (private mode, a browser policy) leaves an online-only app, not an error.
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  void import('workbox-window')
    .then(({ Workbox }) => new Workbox('/sw.js').register())
    .catch(() => undefined);
}
