// 95598 work orders (backend/servicedesk/orders): types and calls. Times are UTC epoch ms;
// every text for people is a code the catalogues word (order.*, error.*).
import type { Params } from '../../i18n';
import { api, apiError, authFetch, get, newId, post } from '../../lib/api';

export const KINDS = ['fault', 'complaint', 'inquiry', 'opinion', 'tip_off', 'business', 'appointment'] as const;
export const CHANNELS = ['phone', 'pwa', 'wechat', 'counter', 'field'] as const;
export type Kind = (typeof KINDS)[number];
export type OrderChannel = (typeof CHANNELS)[number];

export interface Person {
  id: number;
  name: string;
  role: string;
}

export interface Order {
  id: number;
  kind: Kind;
  channel: OrderChannel;
  status: 'open' | 'closed';
  customer_id: number | null;
  customer_name: string;
  account_id: number | null;
  meter_id: string | null;
  contact_name: string;
  contact_phone: string;
  location: string;
  description: string;
  owner: Person | null;
  node: string;
  node_role: string;
  node_started_at: number;
  node_due_at: number;
  overdue: boolean;
  escalated: boolean;
  version: number;
  crew: Person | null;
  repair_job_id: number | null;
  outage_id: number | null;
  result: string;
  closed_at: number | null;
  first_contact_resolved: boolean;
  return_visit_at: number | null;
  satisfaction: number | null;
  rated_at: number | null;
  created_at: number;
  photo_sha256: string | null;
}

export interface Step {
  node: string;
  role: string;
  started_at: number;
  due_at: number;
  finished_at: number | null;
  outcome: string | null;
  on_time: boolean | null;
  escalated: boolean;
}

export interface TimelineEntry {
  at: number;
  code: string;
  params: Params;
  node: string;
  actor: Person | null;
}

export interface OrderDetail {
  order: Order;
  steps: Step[];
  timeline: TimelineEntry[];
}

export interface CustomerHit {
  id: number;
  number: string;
  name: string;
  phone: string;
  address: string;
  transformer_area_id: number | null;
  accounts: { id: number; number: string }[];
  open_orders: number;
}

export interface IndicatorRow {
  group: string;
  orders: number;
  complaints: number;
  closed: number;
  first_contact_resolved: number;
  first_contact_rate: number | null;
  steps_done: number;
  steps_on_time: number;
  on_time_rate: number | null;
  rated: number;
  satisfaction_avg: number | null;
  complaints_per_10k: number | null;
}

export interface Indicators {
  from_day: string;
  to_day: string;
  group_by: string;
  customers: number;
  rows: IndicatorRow[];
  lead_times: { kind: string; node: string; count: number; avg_minutes: number; max_minutes: number; on_time_rate: number }[];
}

const BASE = '/servicedesk'; // api() puts /api in front

export type QueueFilter = 'open' | 'mine' | 'overdue' | 'escalated' | 'closed';

export function queue(filter: QueueFilter): Promise<{ items: Order[]; total: number }> {
  const q = new URLSearchParams({ limit: '200' });
  if (filter === 'closed') q.set('status', 'closed');
  else q.set('status', 'open');
  if (filter === 'mine') q.set('mine', 'true');
  if (filter === 'overdue') q.set('overdue', 'true');
  if (filter === 'escalated') q.set('escalated', 'true');
  return get(`${BASE}/orders?${q}`);
}

export const myOrders = () => get<{ items: Order[]; total: number }>(`${BASE}/orders?limit=100`);
export const order = (id: number) => get<OrderDetail>(`${BASE}/orders/${id}`);
/** `any`: customer no., account no. or phone whole, or a name (indexed); `address`: a scan. */
export type SearchBy = 'any' | 'address';
export const searchCustomers = (q: string, by: SearchBy = 'any') =>
  get<CustomerHit[]>(`${BASE}/customers?q=${encodeURIComponent(q)}&by=${by}`);
export const staff = (role?: string) => get<Person[]>(`${BASE}/staff${role ? `?role=${role}` : ''}`);

/** One key per intent: made when the form opens, so a double tap or a retry is one order. */
export const intentKey = () => `wo-${newId()}`;

export interface IntakeBody {
  kind: Kind;
  channel: OrderChannel;
  description: string;
  customer_id?: number;
  account_id?: number;
  contact_name?: string;
  contact_phone?: string;
  location?: string;
}

export const intake = (body: IntakeBody, key: string) => post<OrderDetail>(`${BASE}/orders`, body, { 'Idempotency-Key': key });

export interface ReportBody {
  kind: 'fault' | 'complaint' | 'inquiry' | 'opinion' | 'appointment';
  description: string;
  account_id?: number;
  location?: string;
  latitude?: number;
  longitude?: number;
  photo_sha256?: string;
}

export const report = (body: ReportBody, key: string) => post<OrderDetail>(`${BASE}/reports`, body, { 'Idempotency-Key': key });

export const act = (id: number, action: 'take' | 'advance' | 'transfer' | 'dispatch' | 'close', body: Record<string, unknown>) =>
  post<OrderDetail>(`${BASE}/orders/${id}/${action}`, body);
export const returnVisit = (id: number, satisfaction: number, note: string) =>
  post<OrderDetail>(`${BASE}/orders/${id}/return-visit`, { satisfaction, note });
export const rate = (id: number, satisfaction: number, comment: string) =>
  post<OrderDetail>(`${BASE}/orders/${id}/rating`, { satisfaction, comment });

export const indicators = (from: string, to: string, group: string) =>
  get<Indicators>(`${BASE}/indicators?from=${from}&to=${to}&group=${group}`);

/** The CSV through the authorised fetch, handed to the browser as a download. */
export async function downloadCsv(from: string, to: string, group: string): Promise<void> {
  const r = await authFetch(`/api${BASE}/indicators/csv?from=${from}&to=${to}&group=${group}`);
  if (!r.ok) throw new Error(String(r.status));
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `servicedesk-${from}-${to}-${group}.csv`;
  a.click();
  URL.revokeObjectURL(url);
}

// The operators' knowledge base (backend/servicedesk/kb)
export interface Article {
  id: number;
  title: string;
  body: string;
  tags: string[];
  kinds: Kind[];
  version: number;
  updated_at: number;
  score: number;
}

export interface ArticleBody {
  title: string;
  body: string;
  tags: string[];
  kinds: Kind[];
}

export function answers(q: string, kind?: Kind, limit = 10): Promise<Article[]> {
  const p = new URLSearchParams({ limit: String(limit) });
  if (q.trim()) p.set('q', q.trim());
  if (kind) p.set('kind', kind);
  return get(`${BASE}/kb/articles?${p}`);
}

export const writeArticle = (body: ArticleBody) => post<Article>(`${BASE}/kb/articles`, body);
export const editArticle = (id: number, version: number, body: ArticleBody) =>
  api<Article>('PUT', `${BASE}/kb/articles/${id}`, { ...body, version });

// An order's follow-ups (backend/servicedesk/followups)
export interface FollowUp {
  order_id: number;
  field_task_id: number | null;
  command_id: string | null;
  command_state: string | null;
}

export const fieldTask = (id: number, body: { due_on?: string; note?: string }) =>
  post<FollowUp>(`${BASE}/orders/${id}/field-task`, body);
export const meterCommand = (id: number, body: { kind: 'reconnect' | 'disconnect'; reason: string; override_reason?: string; id: string }) =>
  post<FollowUp>(`${BASE}/orders/${id}/command`, body);

/** A photo for a report: the raw image (JPEG, PNG or WebP, at most 2 MB), answered by its hash. */
export async function uploadReportPhoto(file: Blob): Promise<string> {
  const r = await authFetch(`/api${BASE}/photos`, { method: 'POST', headers: { 'content-type': file.type }, body: file });
  if (!r.ok) throw await apiError(r);
  return ((await r.json()) as { sha256: string }).sha256;
}

/** The report's photo as an object URL for an <img>. */
export async function orderPhotoUrl(id: number): Promise<string> {
  const r = await authFetch(`/api${BASE}/orders/${id}/photo`);
  if (!r.ok) throw await apiError(r);
  return URL.createObjectURL(await r.blob());
}
