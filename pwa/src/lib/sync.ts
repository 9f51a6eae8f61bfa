// Delivers the outbox: on the `online` event, on app start, after each capture, and when the
// user presses "send now". The rules of what counts as delivered live in outbox.ts.
import { signal } from '@preact/signals';
import { authFetch, me, online } from './api';
import type { OutboxItem } from './db';
import { type ReplayResult, replay } from './outbox';

export const lastReplay = signal<(ReplayResult & { at: number }) | null>(null);

/** A photo goes up first (content addressed, so a resend stores nothing new); the reading that
 * refers to it follows. Whatever fails first is the answer the outbox classifies. */
export async function sendItem(item: OutboxItem, photo: Blob | undefined): Promise<Response> {
  let body = item.body as Record<string, unknown>;
  if (photo && item.photoUrl) {
    const up = await authFetch(item.photoUrl, { method: 'POST', headers: { 'content-type': photo.type }, body: photo });
    if (!up.ok) return up;
    const { sha256 } = (await up.json()) as { sha256: string };
    body = { ...body, photo_sha256: sha256 };
  }
  return authFetch(item.url, {
    method: item.method,
    headers: { 'content-type': 'application/json', 'idempotency-key': item.id },
    body: JSON.stringify(body),
  });
}

export async function sendNow(): Promise<ReplayResult> {
  const who = me.value?.id;
  const result = await replay(sendItem, (item) => item.user === undefined || item.user === who);
  // an attempt with nothing to send is not news; a stop or a delivery is
  if (result.sent || result.attention || (result.stoppedAt && result.stoppedAt !== 'busy')) lastReplay.value = { ...result, at: Date.now() };
  return result;
}

let started = false;

/** Replay whenever the device comes back online, and once now. */
export function startSync(): void {
  if (started) return;
  started = true;
  addEventListener('online', () => void sendNow());
  if (online.value) void sendNow();
}

/** After a capture: try at once when online; when offline the `online` event will do it. */
export function nudge(): void {
  if (online.value) void sendNow();
}
