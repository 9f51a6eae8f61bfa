// GET with an IndexedDB copy: the inspector's reading book must open in a cellar with no signal.
// Online: revalidate with If-None-Match when the API gave an ETag (304 → the stored copy).
// Offline or failing: the stored copy, marked stale with the time it was saved.
import { apiError, authFetch, me } from './api';
import { cacheGet, cachePut } from './db';

export interface Cached<T> {
  value: T;
  savedAt: number;
  fresh: boolean; // false: the server could not be asked, this is the stored copy
}

const keyFor = (path: string) => `get:${me.value?.id ?? 0}:${path}`;

export async function getCached<T>(path: string): Promise<Cached<T>> {
  const key = keyFor(path);
  const stored = await cacheGet<T>(key);
  let response: Response;
  try {
    const headers: Record<string, string> = {};
    if (stored?.etag) headers['if-none-match'] = stored.etag;
    response = await authFetch(`/api${path}`, { headers });
  } catch (err) {
    if (stored) return { value: stored.value, savedAt: stored.savedAt, fresh: false };
    throw err;
  }
  if (response.status === 304 && stored) {
    await cachePut(key, stored.value, stored.etag);
    return { value: stored.value, savedAt: Date.now(), fresh: true };
  }
  if (!response.ok) {
    // a 5xx with a stored copy: show the copy; a 4xx (gone, forbidden) is the truth
    if (stored && response.status >= 500) return { value: stored.value, savedAt: stored.savedAt, fresh: false };
    throw await apiError(response);
  }
  const value = (await response.json()) as T;
  await cachePut(key, value, response.headers.get('etag') ?? undefined);
  return { value, savedAt: Date.now(), fresh: true };
}

/** Device-local state that belongs to the logged-in user (e.g. readings confirmed here). */
export async function localGet<T>(name: string): Promise<T | undefined> {
  return (await cacheGet<T>(`local:${me.value?.id ?? 0}:${name}`))?.value;
}

export async function localPut(name: string, value: unknown): Promise<void> {
  await cachePut(`local:${me.value?.id ?? 0}:${name}`, value);
}
