// The only door to the backend: HTTP under /api, bearer tokens, one refresh on 401.
import { signal } from '@preact/signals';
import type { Params } from '../i18n';

export interface Me {
  id: number;
  username: string;
  role: 'customer' | 'inspector' | 'supervisor' | 'operator' | 'admin';
  display_name: string;
  customer_id: number | null;
  grid_ids?: number[];
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
  return new ApiError(r.status, `${body.detail ?? r.statusText}${extra}`, body.code ?? null, body.params ?? {}, body.field ?? null);
}

const REFRESH_KEY = 'refresh_token';
let accessToken: string | null = sessionStorage.getItem('access_token');
export const me = signal<Me | null>(JSON.parse(localStorage.getItem('me') ?? 'null') as Me | null);
export const online = signal(navigator.onLine);
addEventListener('online', () => (online.value = true));
addEventListener('offline', () => (online.value = false));

function setTokens(access: string, refresh: string): void {
  accessToken = access;
  sessionStorage.setItem('access_token', access);
  localStorage.setItem(REFRESH_KEY, refresh);
}

export function clearSession(): void {
  accessToken = null;
  sessionStorage.removeItem('access_token');
  localStorage.removeItem(REFRESH_KEY);
  localStorage.removeItem('me');
  me.value = null;
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const token = localStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch('/api/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: token }),
      });
      if (!r.ok) {
        if (r.status === 401) clearSession();
        return false;
      }
      const body = (await r.json()) as { access_token: string; refresh_token: string };
      setTokens(body.access_token, body.refresh_token);
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

export async function login(username: string, password: string): Promise<Me> {
  const r = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw await apiError(r);
  const body = (await r.json()) as { access_token: string; refresh_token: string };
  setTokens(body.access_token, body.refresh_token);
  const who = await get<Me>('/me');
  localStorage.setItem('me', JSON.stringify(who));
  me.value = who;
  return who;
}

export async function logout(): Promise<void> {
  const token = localStorage.getItem(REFRESH_KEY);
  if (token) await api('POST', '/auth/logout', { refresh_token: token }).catch(() => undefined);
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

/** Where a role starts. */
export function homeFor(role: string | undefined): string {
  if (role === 'customer') return '/customer';
  if (role === 'inspector') return '/inspector';
  if (role) return '/operator'; // operator, supervisor, admin
  return '/login';
}
