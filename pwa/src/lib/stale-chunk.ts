// After a deploy, a page opened on the build before asks for a lazy screen's chunk that the
// server no longer has (404). Vite then fires `vite:preloadError`: load the current build
// instead, once a minute at most, so a chunk missing from the current build too never turns
// into a reload loop (the screen then shows what it shows for any failed load).
export const RELOADED_KEY = 'meterline.stale-chunk-reload';
const ONCE_PER_MS = 60_000;

export function reloadForStaleChunk(storage: Storage, now: number, reload: () => void): boolean {
  const last = Number(storage.getItem(RELOADED_KEY) ?? 0);
  if (now - last < ONCE_PER_MS) return false;
  storage.setItem(RELOADED_KEY, String(now));
  reload();
  return true;
}

export function watchStaleChunks(): void {
  addEventListener('vite:preloadError', (event) => {
    if (reloadForStaleChunk(sessionStorage, Date.now(), () => location.reload())) event.preventDefault();
  });
}
