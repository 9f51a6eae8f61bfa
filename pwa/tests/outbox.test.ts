import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { resetDb } from '../src/lib/db';
import { attentionCount, enqueue, list, outboxCount, replay, retry } from '../src/lib/outbox';

function item(id: string) {
  return { id, kind: 'reading' as const, method: 'POST' as const, url: '/api/x', body: { id }, label: id };
}

const reply = (status: number) => Promise.resolve(new Response(status === 204 ? null : '{}', { status }));

describe('outbox', () => {
  beforeEach(async () => {
    await resetDb();
  });

  it('replays in order and empties on success', async () => {
    await enqueue(item('a'));
    await enqueue(item('b'));
    const seen: string[] = [];
    const r = await replay((i) => {
      seen.push(i.id);
      return reply(201);
    });
    expect(seen).toEqual(['a', 'b']);
    expect(r.sent).toBe(2);
    expect(await list()).toEqual([]);
    expect(outboxCount.value).toBe(0);
  });

  it('treats a 5xx as failure and stops, keeping everything in order', async () => {
    await enqueue(item('a'));
    await enqueue(item('b'));
    const seen: string[] = [];
    const r = await replay((i) => {
      seen.push(i.id);
      return reply(503);
    });
    expect(seen).toEqual(['a']);
    expect(r).toEqual({ sent: 0, attention: 0, stoppedAt: 'http-503' });
    const left = await list();
    expect(left.map((i) => [i.id, i.state, i.attempts])).toEqual([
      ['a', 'waiting', 1],
      ['b', 'waiting', 0],
    ]);
  });

  it('stops on a network error without losing the item', async () => {
    await enqueue(item('a'));
    const r = await replay(() => Promise.reject(new TypeError('Failed to fetch')));
    expect(r.stoppedAt).toBe('network');
    expect((await list())[0].lastError).toContain('Failed to fetch');
    expect(outboxCount.value).toBe(1);
  });

  it('moves a 4xx to needs-attention and carries on with the rest', async () => {
    await enqueue(item('bad'));
    await enqueue(item('good'));
    const r = await replay((i) => reply(i.id === 'bad' ? 422 : 201));
    expect(r).toEqual({ sent: 1, attention: 1 });
    const left = await list();
    expect(left.map((i) => [i.id, i.state])).toEqual([['bad', 'attention']]);
    expect(left[0].lastError).toMatch(/^422/);
    expect(attentionCount.value).toBe(1);
    await retry(left[0].seq!);
    expect(outboxCount.value).toBe(1);
    expect(attentionCount.value).toBe(0);
  });

  it('keeps the code and parameters of a refusal so the list words it in the language of the moment', async () => {
    await enqueue(item('late'));
    const body = { status_code: 409, code: 'error.reading_exists', detail: 'meter M1 already has a reading', field: 'fix.fix_at', params: { meter: 'M1', reading_at: 0 } };
    await replay(() => Promise.resolve(new Response(JSON.stringify(body), { status: 409 })));
    const [left] = await list();
    expect(left.state).toBe('attention');
    expect(left.lastText).toEqual({ code: 'error.reading_exists', params: { meter: 'M1', reading_at: 0 }, field: 'fix.fix_at' });
  });

  it('enqueues a double tap once', async () => {
    await enqueue(item('same'));
    await enqueue(item('same'));
    expect((await list()).length).toBe(1);
  });

  it('keeps the photo until the reading is delivered', async () => {
    await enqueue({ ...item('p'), photoKey: 'photo-p' }, new Blob(['jpeg'], { type: 'image/jpeg' }));
    let got: Blob | undefined;
    await replay((_i, photo) => {
      got = photo;
      return reply(503);
    });
    expect(got?.size).toBe(4);
    await replay(() => reply(201));
    expect(await list()).toEqual([]);
  });
});

describe('the reason shown for a refused item', () => {
  it('is the API detail, not raw JSON', async () => {
    const { reason } = await import('../src/lib/outbox');
    expect(reason('{"status_code":422,"detail":"meter_id: no such meter"}')).toBe('meter_id: no such meter');
    expect(reason('{"detail":"Validation failed","extra":[{"key":"fix.accuracy_m","message":"must be > 0"}]}')).toBe(
      'Validation failed; must be > 0',
    );
    expect(reason('Bad Gateway')).toBe('Bad Gateway');
  });
});
