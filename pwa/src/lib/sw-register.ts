// The service worker precaches the app shell so the app opens offline; updates apply on reload.
// It registers after the page has loaded, so precaching the lazy screens (map, charts) never
// competes with the first screen for the network. Registration failing (private mode, a
// browser policy) leaves an online-only app, not an error.
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  const register = () =>
    void import('workbox-window')
      .then(({ Workbox }) => new Workbox('/sw.js').register())
      .catch(() => undefined);
  if (document.readyState === 'complete') register();
  else addEventListener('load', register, { once: true });
}
