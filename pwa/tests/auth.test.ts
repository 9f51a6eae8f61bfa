import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, authFetch, login, logout, me } from '../src/lib/api';

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

interface Call {
  url: string;
  init: RequestInit;
}

function serve(answers: ((c: Call) => Response)[]): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit = {}) => {
    const call = { url, init };
    calls.push(call);
    const next = answers.shift();
    if (!next) throw new Error(`unexpected fetch ${url}`);
    return next(call);
  });
  return calls;
}

const who = { id: 1, username: 'op', role: 'operator', display_name: '', customer_id: null, totp_enabled: true };

describe('the session', () => {
  beforeEach(() => {
    localStorage.clear();
    sessionStorage.clear();
    me.value = null;
  });
  afterEach(() => vi.unstubAllGlobals());

  it('never keeps a refresh token: the server sets it as an httpOnly cookie', async () => {
    localStorage.setItem('refresh_token', 'left-by-an-old-version');
    serve([() => json(200, { access_token: 'A1', expires_in: 900 }), () => json(200, who)]);
    await login('op', 'pw-long-enough');
    expect(JSON.stringify({ ...localStorage })).not.toContain('refresh');
    await logout();
    expect(localStorage.getItem('refresh_token')).toBeNull();
  });

  it('refreshes an expired access token with the cookie alone, no token in the body', async () => {
    const calls = serve([
      () => json(200, { access_token: 'A1', expires_in: 900 }),
      () => json(200, who),
      () => json(401, { detail: 'expired' }),
      () => json(200, { access_token: 'A2', expires_in: 900 }),
      (c) => json(200, { auth: new Headers(c.init.headers).get('authorization') }),
    ]);
    await login('op', 'pw-long-enough');
    const r = await authFetch('/api/meters');
    expect(await r.json()).toEqual({ auth: 'Bearer A2' });
    const refresh = calls[3];
    expect(refresh.url).toBe('/api/auth/refresh');
    expect(refresh.init.body).toBeUndefined();
    expect(refresh.init.credentials).toBe('same-origin');
  });

  it('reports the second step and a lockout with their reasons', async () => {
    serve([
      () => json(401, { status_code: 401, code: 'error.totp_required', detail: 'second factor required' }),
      () => json(429, { status_code: 429, code: 'error.locked', detail: 'locked', params: { retry_after: 840 } }, { 'retry-after': '840' }),
    ]);
    const step = await login('op', 'pw-long-enough').catch((e: unknown) => e);
    expect(step).toBeInstanceOf(ApiError);
    expect((step as ApiError).code).toBe('error.totp_required');
    const locked = (await login('op', 'pw-long-enough', '123456').catch((e: unknown) => e)) as ApiError;
    expect(locked.status).toBe(429);
    expect(locked.retryAfter).toBe(840);
  });
});
