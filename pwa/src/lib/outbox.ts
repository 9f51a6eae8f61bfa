// The outbox never lies. Captures wait here until the server has them:
// - replay in order, and stop at the first failure that might be temporary (offline, 5xx, 429):
//   a 5xx is NOT success (Workbox issue #2599 lost data that way);
// - a 4xx means the server understood and refused: the item moves to a visible
//   "needs attention" list instead of blocking the queue, and never disappears by itself;
// - nothing expires silently.
import { signal } from '@preact/signals';
import { refusal } from './api';
import { db, type OutboxItem, type StoredPhoto } from './db';

export const outboxCount = signal(0);
export const attentionCount = signal(0);
export const replaying = signal(false);

export type Sender = (item: OutboxItem, photo: Blob | undefined) => Promise<Response>;

const toBlob = (p: StoredPhoto | undefined) => (p ? new Blob([p.bytes], { type: p.type }) : undefined);

/** What the server said, in words: the API's JSON `detail` (and the fields it names). */
export function reason(body: string): string {
  try {
    const parsed = JSON.parse(body) as { detail?: unknown; extra?: { key?: string; message?: string }[] };
    if (typeof parsed.detail !== 'string') return body;
    const fields = (parsed.extra ?? []).map((e) => e.message ?? e.key).filter((m) => m && m !== parsed.detail);
    return [parsed.detail, ...fields].join('; ');
  } catch {
    return body;
  }
}

export async function refreshCounts(): Promise<void> {
  const items = await (await db()).getAll('outbox');
  outboxCount.value = items.filter((i) => i.state === 'waiting').length;
  attentionCount.value = items.filter((i) => i.state === 'attention').length;
}

export async function enqueue(
  item: Omit<OutboxItem, 'seq' | 'attempts' | 'state' | 'createdAt'>,
  photo?: Blob,
): Promise<void> {
  const d = await db();
  const stored = photo && item.photoKey ? { type: photo.type, bytes: await photo.arrayBuffer() } : undefined;
  const tx = d.transaction(['outbox', 'photos'], 'readwrite');
  if (stored && item.photoKey) await tx.objectStore('photos').put(stored, item.photoKey);
  // the id index is unique: a double tap enqueues once
  const existing = await tx.objectStore('outbox').index('byId').get(item.id);
  if (!existing) await tx.objectStore('outbox').add({ ...item, attempts: 0, state: 'waiting', createdAt: Date.now() });
  await tx.done;
  await refreshCounts();
}

export async function list(): Promise<OutboxItem[]> {
  return (await db()).getAll('outbox');
}

export interface ReplayResult {
  sent: number;
  attention: number;
  stoppedAt?: string; // why replay stopped early
}

/** `mine` picks the items this login may send (a capture goes out under the login that made it). */
export async function replay(send: Sender, mine: (item: OutboxItem) => boolean = () => true): Promise<ReplayResult> {
  if (replaying.value) return { sent: 0, attention: 0, stoppedAt: 'busy' };
  replaying.value = true;
  const result: ReplayResult = { sent: 0, attention: 0 };
  try {
    const d = await db();
    const items = (await d.getAll('outbox')).filter((i) => i.state === 'waiting' && mine(i));
    for (const item of items) {
      const photo = item.photoKey ? toBlob(await d.get('photos', item.photoKey)) : undefined;
      let response: Response;
      try {
        response = await send(item, photo);
      } catch (err) {
        await d.put('outbox', { ...item, attempts: item.attempts + 1, lastError: String(err), lastText: undefined });
        result.stoppedAt = 'network';
        break;
      }
      if (response.ok) {
        const tx = d.transaction(['outbox', 'photos'], 'readwrite');
        await tx.objectStore('outbox').delete(item.seq!);
        if (item.photoKey) await tx.objectStore('photos').delete(item.photoKey);
        await tx.done;
        result.sent += 1;
      } else if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429 && response.status !== 401) {
        const body = await response.text().catch(() => '');
        const lastError = `${response.status} ${reason(body)}`.slice(0, 500);
        await d.put('outbox', { ...item, attempts: item.attempts + 1, state: 'attention', lastError, lastText: refusal(body) });
        result.attention += 1;
      } else {
        await d.put('outbox', { ...item, attempts: item.attempts + 1, lastError: `HTTP ${response.status}`, lastText: undefined });
        result.stoppedAt = `http-${response.status}`;
        break;
      }
    }
  } finally {
    replaying.value = false;
    await refreshCounts();
  }
  return result;
}

/** The user fixed the cause (or wants another try): put an attention item back in the queue. */
export async function retry(seq: number): Promise<void> {
  const d = await db();
  const item = await d.get('outbox', seq);
  if (item) await d.put('outbox', { ...item, state: 'waiting' });
  await refreshCounts();
}

/** Only on the user's explicit decision, with the item shown to them first. */
export async function discard(seq: number): Promise<void> {
  const d = await db();
  const item = await d.get('outbox', seq);
  const tx = d.transaction(['outbox', 'photos'], 'readwrite');
  await tx.objectStore('outbox').delete(seq);
  if (item?.photoKey) await tx.objectStore('photos').delete(item.photoKey);
  await tx.done;
  await refreshCounts();
}
