import { beforeEach, describe, expect, it } from 'vitest';
import { attemptKey, pendingTopUp, topUp } from '../src/lib/topup';

let n = 0;
const makeId = () => `key-${++n}`;
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('a top-up attempt', () => {
  beforeEach(() => localStorage.clear());

  it('reuses its key on a retry after the network failed', async () => {
    const keys: string[] = [];
    const first = await topUp(1, 10000, async (_a, _f, key) => {
      keys.push(key);
      throw new TypeError('Failed to fetch');
    }, makeId);
    expect(first.kind).toBe('unknown');
    const second = await topUp(1, 10000, async (_a, _f, key) => {
      keys.push(key);
      return json(201, { balance_fen: 10000 });
    }, makeId);
    expect(second.kind).toBe('done');
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it('reuses its key after a 5xx, which is not an answer', async () => {
    const keys: string[] = [];
    const send = async (_a: number, _f: number, key: string) => {
      keys.push(key);
      return keys.length === 1 ? json(503, {}) : json(201, {});
    };
    expect((await topUp(1, 5000, send, makeId)).kind).toBe('unknown');
    expect((await topUp(1, 5000, send, makeId)).kind).toBe('done');
    expect(keys[1]).toBe(keys[0]);
  });

  it('sends one request for a double tap', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const send = async () => {
      calls += 1;
      await gate;
      return json(201, { balance_fen: 5000 });
    };
    const a = topUp(1, 5000, send, makeId);
    const b = topUp(1, 5000, send, makeId);
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect(calls).toBe(1);
    expect(ra).toEqual(rb);
  });

  it('takes a new key once the server has answered', async () => {
    const keys: string[] = [];
    const send = async (_a: number, _f: number, key: string) => {
      keys.push(key);
      return json(201, {});
    };
    await topUp(1, 5000, send, makeId);
    await topUp(1, 5000, send, makeId);
    expect(keys[1]).not.toBe(keys[0]);
    expect(pendingTopUp()).toBeNull();
  });

  it('forgets the key when the server refuses for good', async () => {
    const out = await topUp(1, 5000, async () => json(422, { detail: 'amount_fen: too large' }), makeId);
    expect(out).toMatchObject({ kind: 'refused', status: 422 });
    expect(pendingTopUp()).toBeNull();
  });

  it('keeps the key across a restart of the app (it is written down before sending)', () => {
    const key = attemptKey(7, 2000, makeId);
    expect(pendingTopUp()).toMatchObject({ key, accountId: 7, amountFen: 2000 });
    expect(attemptKey(7, 2000, makeId)).toBe(key);
  });

  it('is a different attempt for a different amount', () => {
    const key = attemptKey(7, 2000, makeId);
    expect(attemptKey(7, 3000, makeId)).not.toBe(key);
  });
});

describe('a top-up the server is still working on', () => {
  beforeEach(() => localStorage.clear());

  it('keeps its key on 409 (the first request with the key is still running)', async () => {
    const keys: string[] = [];
    const send = async (_a: number, _f: number, key: string) => {
      keys.push(key);
      return keys.length === 1 ? json(409, { detail: 'in progress' }) : json(201, {});
    };
    expect((await topUp(3, 5000, send, makeId)).kind).toBe('unknown');
    expect((await topUp(3, 5000, send, makeId)).kind).toBe('done');
    expect(keys[1]).toBe(keys[0]);
  });

  it('says why it was refused, from the JSON detail', async () => {
    const out = await topUp(3, 5000, async () => json(422, { detail: 'amount_fen: too large' }), makeId);
    expect(out).toMatchObject({ kind: 'refused', detail: 'amount_fen: too large' });
  });
});
