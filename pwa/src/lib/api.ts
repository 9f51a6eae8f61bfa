// The only door to the backend: HTTP under /api, bearer tokens, one refresh on 401.
// The refresh token never reaches this code: the server keeps it in an httpOnly, SameSite=Strict
// cookie scoped to /api/auth, which the browser sends to /api/auth/refresh by itself. Only the
// short-lived access token is held here (sessionStorage: gone with the tab).
import { signal } from '@preact/signals';
import type { Params } from '../i18n';

export interface Me {
  id: number;
  username: string;
  role: 'customer' | 'inspector' | 'supervisor' | 'operator' | 'admin';
  display_name: string;
  customer_id: number | null;
  grid_ids?: number[];
  totp_enabled?: boolean;
  totp_enrolment_required?: boolean;
}

/** An error answer of the API (backend/errors.py): `code` and `params` are for people (see
 * `say` in i18n), `detail` is English for logs, `field` names the part of the request at fault. */
export interface ErrorBody {
  status_code?: number;
  code?: string;
  detail?: string;
  field?: string | null;
  params?: Params;
  extra?: unknown;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public detail: string,
    public code: string | null = null,
    public params: Params = {},
    public field: string | null = null,
    /** seconds to wait (Retry-After of a 429) */
    public retryAfter = 0,
    /** per-field problems of a 400: [{key, message}] */
    public fields: { key: string; message: string }[] = [],
  ) {
    super(`${status}: ${code ?? detail}`);
  }
}

/** A refusal as a code for people (backend/errors.py), when an answer's body carries one. */
export function refusal(body: string): { code: string; params: Params; field: string | null } | undefined {
  try {
    const parsed = JSON.parse(body) as ErrorBody;
    if (typeof parsed.code !== 'string') return undefined;
    return { code: parsed.code, params: parsed.params ?? {}, field: parsed.field ?? null };
  } catch {
    return undefined;
  }
}

/** The ApiError for a response that is not ok: its JSON body when it has one. */
export async function apiError(r: Response): Promise<ApiError> {
  let body: ErrorBody = {};
  try {
    body = (await r.json()) as ErrorBody;
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  const extra = body.extra ? ` ${JSON.stringify(body.extra)}` : '';
  const fields = Array.isArray(body.extra) ? (body.extra as { key: string; message: string }[]) : [];
  return new ApiError(
    r.status,
    `${body.detail ?? r.statusText}${extra}`,
    body.code ?? null,
    body.params ?? {},
    body.field ?? null,
    Number(r.headers.get('retry-after') ?? 0),
    fields,
  );
}

interface TokenAnswer {
  access_token: string;
  expires_in: number;
  totp_enrolment_required?: boolean;
}

let accessToken: string | null = sessionStorage.getItem('access_token');
export const me = signal<Me | null>(JSON.parse(localStorage.getItem('me') ?? 'null') as Me | null);
export const online = signal(navigator.onLine);
addEventListener('online', () => (online.value = true));
addEventListener('offline', () => (online.value = false));

function setToken(access: string): void {
  localStorage.removeItem('refresh_token'); // where versions before the cookie kept it
  accessToken = access;
  sessionStorage.setItem('access_token', access);
}

export function clearSession(): void {
  accessToken = null;
  sessionStorage.removeItem('access_token');
  localStorage.removeItem('refresh_token'); // where versions before the cookie kept it
  localStorage.removeItem('me');
  me.value = null;
}

let refreshing: Promise<boolean> | null = null;

/** A new access token for the refresh-token cookie (sent by the browser, unseen by us). */
async function refresh(): Promise<boolean> {
  if (!me.value) return false; // never logged in on this device: nothing to refresh
  refreshing ??= (async () => {
    try {
      const r = await fetch('/api/auth/refresh', { method: 'POST', credentials: 'same-origin' });
      if (!r.ok) {
        if (r.status === 401) clearSession();
        return false;
      }
      setToken(((await r.json()) as TokenAnswer).access_token);
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** fetch() with the bearer token; retries once after refreshing an expired token. */
export async function authFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const go = () => {
    const headers = new Headers(init.headers);
    if (accessToken) headers.set('authorization', `Bearer ${accessToken}`);
    return fetch(path, { ...init, headers });
  };
  let response = await go();
  if (response.status === 401 && (await refresh())) response = await go();
  return response;
}

export async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await authFetch(`/api${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw await apiError(r);
  return (r.status === 204 ? undefined : await r.json()) as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown, headers?: Record<string, string>) => api<T>('POST', path, body ?? {}, headers);

/** Log in; `code` is the TOTP code or a recovery code, for users with a second factor. An
 * ApiError with reason `totp_required` means: ask for the code and call again with it. */
export async function login(username: string, password: string, code?: string): Promise<Me> {
  const r = await fetch('/api/auth/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(code ? { username, password, code } : { username, password }),
  });
  if (!r.ok) throw await apiError(r);
  setToken(((await r.json()) as TokenAnswer).access_token);
  return reloadMe();
}

/** Ask the server who we are again (after enrolling a second factor, say). */
export async function reloadMe(): Promise<Me> {
  const who = await get<Me>('/me');
  localStorage.setItem('me', JSON.stringify(who));
  me.value = who;
  return who;
}

export async function logout(): Promise<void> {
  await api('POST', '/auth/logout', {}).catch(() => undefined); // the cookie goes along
  clearSession();
}

/** A version-4 UUID made on the device: the idempotency id of a capture, command or payment.
 * crypto.randomUUID exists only in secure contexts; a phone on the plain-HTTP LAN address of a
 * demo is not one, but getRandomValues works everywhere. */
export function newId(): string {
  if (typeof crypto.randomUUID === 'function' && globalThis.isSecureContext !== false) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Where a role starts (a user who must enrol a second factor first: the enrolment). */
export function homeFor(role: string | undefined): string {
  if (role && me.value?.totp_enrolment_required) return '/totp';
  if (role === 'customer') return '/customer';
  if (role === 'inspector') return '/inspector';
  if (role) return '/operator'; // operator, supervisor, admin
  return '/login';
}
