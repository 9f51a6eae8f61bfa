// A top-up never pays twice. One attempt = one Idempotency-Key, made before the first request
// and written down (localStorage) so that a double tap, a retry after a timeout, or a retry after
// the phone restarted all carry the same key; the server answers a repeated key with the first
// result. The key is forgotten only when the server has answered definitively (2xx or 4xx).

import { refusal } from './api';

type Refusal = NonNullable<ReturnType<typeof refusal>>;

export interface PendingTopUp {
  key: string;
  accountId: number;
  amountFen: number;
  startedAt: number;
}

export type TopUpOutcome<T> =
  | { kind: 'done'; result: T; key: string }
  | { kind: 'refused'; status: number; detail: string; key: string; text?: Refusal }
  | { kind: 'unknown'; detail: string; key: string }; // not confirmed: retrying is safe

/** Sends one request with the given key; returns the HTTP response (or throws when offline). */
export type TopUpSender = (accountId: number, amountFen: number, key: string) => Promise<Response>;

const STORE = 'pending_topup';

async function errorDetail(r: Response): Promise<{ detail: string; text?: Refusal }> {
  const body = await r.text().catch(() => '');
  try {
    return { detail: String((JSON.parse(body) as { detail?: unknown }).detail ?? body), text: refusal(body) };
  } catch {
    return { detail: body };
  }
}

export function pendingTopUp(): PendingTopUp | null {
  try {
    return JSON.parse(localStorage.getItem(STORE) ?? 'null') as PendingTopUp | null;
  } catch {
    return null;
  }
}

export function forgetPendingTopUp(): void {
  localStorage.removeItem(STORE);
}

/** The key for this top-up: the pending attempt's when it is the same account and amount. */
export function attemptKey(accountId: number, amountFen: number, makeId: () => string): string {
  const pending = pendingTopUp();
  if (pending && pending.accountId === accountId && pending.amountFen === amountFen) return pending.key;
  const next: PendingTopUp = { key: makeId(), accountId, amountFen, startedAt: Date.now() };
  localStorage.setItem(STORE, JSON.stringify(next));
  return next.key;
}

const inFlight = new Map<string, Promise<TopUpOutcome<unknown>>>();

export function topUp<T>(accountId: number, amountFen: number, send: TopUpSender, makeId: () => string): Promise<TopUpOutcome<T>> {
  const key = attemptKey(accountId, amountFen, makeId);
  // a second tap while the first request is on its way joins it instead of sending again
  const running = inFlight.get(key);
  if (running) return running as Promise<TopUpOutcome<T>>;
  const attempt = (async (): Promise<TopUpOutcome<T>> => {
    let response: Response;
    try {
      response = await send(accountId, amountFen, key);
    } catch (err) {
      return { kind: 'unknown', detail: String(err), key };
    }
    if (response.ok) {
      forgetPendingTopUp();
      return { kind: 'done', result: (await response.json()) as T, key };
    }
    const { detail, text } = await errorDetail(response);
    // 409: the first request with this key is still running on the server — its outcome is
    // unknown, so the key stays; 401/408/429 are not answers either
    if (response.status >= 400 && response.status < 500 && ![401, 408, 409, 429].includes(response.status)) {
      forgetPendingTopUp();
      return { kind: 'refused', status: response.status, detail, key, ...(text ? { text } : {}) };
    }
    return { kind: 'unknown', detail: `HTTP ${response.status} ${detail}`.trim(), key };
  })().finally(() => inFlight.delete(key));
  inFlight.set(key, attempt);
  return attempt;
}
