// The reading book (抄表册) as the handheld keeps it: the server's copy (IndexedDB, ETag) plus
// the readings confirmed on this device, which are locked the moment they are confirmed, whether
// or not they have reached the server yet.
import { computed, signal } from '@preact/signals';
import { getCached, localGet, localPut } from '../../lib/cached';
import type { Book, BookItem, Flag } from './types';

export const BOOK_PATH = '/field/books/current';

export interface LocalCapture {
  clientId: string;
  bookId: number;
  meterId: string;
  seq: number;
  registers: Record<string, number>;
  accuracy: number;
  at: number; // when it was confirmed (device clock)
  photo: boolean;
}

export const book = signal<Book | null>(null);
export const bookSavedAt = signal<number | null>(null);
export const bookFresh = signal(false);
export const bookError = signal<string | null>(null);
export const captures = signal<Record<string, LocalCapture>>({}); // by meter id

const capturesKey = (bookId: number) => `captures:${bookId}`;

export async function loadBook(): Promise<void> {
  try {
    const got = await getCached<Book>(BOOK_PATH);
    book.value = got.value;
    bookSavedAt.value = got.savedAt;
    bookFresh.value = got.fresh;
    bookError.value = null;
    captures.value = (await localGet<Record<string, LocalCapture>>(capturesKey(got.value.id))) ?? {};
  } catch (err) {
    bookError.value = String(err);
  }
}

export async function saveCapture(c: LocalCapture): Promise<void> {
  const next = { ...captures.value, [c.meterId]: c };
  captures.value = next;
  await localPut(capturesKey(c.bookId), next);
}

/** Read on the server, or confirmed here: either way it is done and locked. */
export function isDone(item: BookItem): boolean {
  return item.done !== null || (item.meter !== null && captures.value[item.meter.meter_id] !== undefined);
}

export const progress = computed(() => {
  const b = book.value;
  if (!b) return { done: 0, total: 0 };
  return { done: b.items.filter(isDone).length, total: b.items.length };
});

export const flags = signal<Flag[]>([]);
