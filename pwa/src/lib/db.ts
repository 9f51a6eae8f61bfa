// IndexedDB through idb. Upgrades are a ladder of oldVersion checks: never skip a rung.
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';

export interface OutboxItem {
  seq?: number; // auto-increment key: replay order
  id: string; // client-made idempotency id, also sent to the server
  kind: 'reading' | 'track' | 'repair';
  user?: number; // who captured it: shown, and replayed only under that login
  method: 'POST' | 'PUT';
  url: string;
  body: unknown;
  photoKey?: string; // key of the photo's bytes in the photos store
  photoUrl?: string; // where the photo is uploaded before the item itself
  createdAt: number;
  attempts: number;
  state: 'waiting' | 'attention';
  lastError?: string; // for developers: the status and the server's English detail
  lastText?: { code: string; params: Record<string, string | number | boolean | null>; field: string | null }; // the refusal, for people
  label: string; // what the user sees in the outbox list
}

export interface StoredPhoto {
  type: string;
  bytes: ArrayBuffer;
}

interface MeterlineDB extends DBSchema {
  outbox: { key: number; value: OutboxItem; indexes: { byId: string } };
  // bytes, not Blob: Blobs in IndexedDB have been unreliable on some mobile browsers
  photos: { key: string; value: StoredPhoto };
  cache: { key: string; value: { key: string; value: unknown; savedAt: number; etag?: string } };
}

let dbPromise: Promise<IDBPDatabase<MeterlineDB>> | null = null;

export function db(): Promise<IDBPDatabase<MeterlineDB>> {
  dbPromise ??= openDB<MeterlineDB>('meterline', 1, {
    upgrade(database, oldVersion) {
      if (oldVersion < 1) {
        const outbox = database.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
        outbox.createIndex('byId', 'id', { unique: true });
        database.createObjectStore('photos');
        database.createObjectStore('cache', { keyPath: 'key' });
      }
      // if (oldVersion < 2) { … next schema change goes here … }
    },
  });
  return dbPromise;
}

export async function cacheGet<T>(key: string): Promise<{ value: T; savedAt: number; etag?: string } | undefined> {
  const row = await (await db()).get('cache', key);
  return row ? { value: row.value as T, savedAt: row.savedAt, etag: row.etag } : undefined;
}

export async function cachePut(key: string, value: unknown, etag?: string): Promise<void> {
  await (await db()).put('cache', { key, value, savedAt: Date.now(), etag });
}

/** For tests and logout: forget everything this device holds. */
export async function resetDb(): Promise<void> {
  const d = await db();
  await Promise.all([d.clear('outbox'), d.clear('photos'), d.clear('cache')]);
}
