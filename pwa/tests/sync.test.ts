import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getCached } from '../src/lib/cached';
import { resetDb } from '../src/lib/db';
import { enqueue, list, replay } from '../src/lib/outbox';
import { sendItem } from '../src/lib/sync';

type Call = { url: string; method: string; headers: Headers; body: unknown };
let calls: Call[] = [];

function serve(answer: (c: Call) => Response | Promise<Response>) {
  vi.stubGlobal('fetch', async (url: string, init: RequestInit = {}) => {
    const call = { url, method: init.method ?? 'GET', headers: new Headers(init.headers), body: init.body };
    calls.push(call);
    return answer(call);
  });
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(status === 304 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const reading = (id: string, photo = false) => ({
  id,
  kind: 'reading' as const,
  method: 'POST' as const,
  url: '/api/field/readings',
  body: { client_id: id, meter_id: 'M1' },
  photoKey: photo ? `photo-${id}` : undefined,
  photoUrl: photo ? '/api/field/photos' : undefined,
  label: id,
  user: 5,
});

describe('delivering an outbox item', () => {
  beforeEach(async () => {
    calls = [];
    await resetDb();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('uploads the photo first and sends its hash with the reading', async () => {
    serve((c) => (c.url.endsWith('/photos') ? json(201, { sha256: 'ab'.repeat(32) }) : json(201, {})));
    await enqueue(reading('r1', true), new Blob(['jpeg'], { type: 'image/jpeg' }));
    expect(await replay(sendItem)).toEqual({ sent: 1, attention: 0 });
    expect(calls.map((c) => c.url)).toEqual(['/api/field/photos', '/api/field/readings']);
    expect(calls[0].headers.get('content-type')).toBe('image/jpeg');
    expect(JSON.parse(calls[1].body as string)).toEqual({ client_id: 'r1', meter_id: 'M1', photo_sha256: 'ab'.repeat(32) });
    expect(calls[1].headers.get('idempotency-key')).toBe('r1');
  });

  it('keeps the reading waiting when the photo upload gets a 5xx, and never sends the reading', async () => {
    serve(() => json(503, {}));
    await enqueue(reading('r1', true), new Blob(['jpeg'], { type: 'image/jpeg' }));
    expect((await replay(sendItem)).stoppedAt).toBe('http-503');
    expect(calls.map((c) => c.url)).toEqual(['/api/field/photos']);
    expect((await list()).map((i) => i.state)).toEqual(['waiting']);
  });

  it('sends only the items of the login that captured them', async () => {
    serve(() => json(201, {}));
    await enqueue(reading('mine'));
    await enqueue({ ...reading('theirs'), user: 9 });
    await replay(sendItem, (i) => i.user === 5);
    expect(calls.map((c) => JSON.parse(c.body as string).client_id)).toEqual(['mine']);
    expect((await list()).map((i) => i.id)).toEqual(['theirs']);
  });
});

describe('a cached GET', () => {
  beforeEach(async () => {
    calls = [];
    await resetDb();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('revalidates with the ETag and keeps the stored copy on 304', async () => {
    serve(() => json(200, { v: 1 }, { etag: '"b1"' }));
    expect((await getCached('/field/books/current')).value).toEqual({ v: 1 });
    serve(() => json(304, null));
    const again = await getCached('/field/books/current');
    expect(calls[1].headers.get('if-none-match')).toBe('"b1"');
    expect(again).toMatchObject({ value: { v: 1 }, fresh: true });
  });

  it('answers from the stored copy when offline, marked not fresh', async () => {
    serve(() => json(200, { v: 1 }));
    await getCached('/x');
    serve(() => Promise.reject(new TypeError('Failed to fetch')));
    expect(await getCached('/x')).toMatchObject({ value: { v: 1 }, fresh: false });
  });

  it('fails offline when nothing was stored', async () => {
    serve(() => Promise.reject(new TypeError('Failed to fetch')));
    await expect(getCached('/never')).rejects.toThrow('Failed to fetch');
  });
});
