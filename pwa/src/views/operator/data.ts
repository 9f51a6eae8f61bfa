// The service centre's data (95598): arrears, the disconnect queue with the policy's reasons,
// commands and their approvals, offline meters, the collection success rate, field flags.
import { get, post } from '../../lib/api';

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface Arrear {
  account_id: number;
  account_number: string;
  customer_number: string;
  customer_name: string;
  balance_fen: number;
  since: string | number | null; // when the balance went below zero
  protected: boolean;
}

/** One account the prepaid engine would disconnect, and why (or why not yet). */
export interface QueueItem {
  id: number;
  account_id: number;
  account_number: string;
  customer_number: string;
  customer_name: string;
  meter_id: string;
  balance_fen: number;
  state: string; // e.g. eligible, held, approved, sent
  explanation: string[]; // the policy's steps in words: warning sent, grace over, not quiet hours…
  eligible: boolean;
}

export interface Command {
  id: string;
  meter_id: string;
  action: string; // disconnect, reconnect, …
  state: string; // awaiting_approval, queued, dispatched, received, executed, verified, failed, …
  reason: string;
  actor: string;
  created_at: string | number;
  updated_at: string | number;
  detail?: string;
  batch_id?: number | null;
}

export interface Batch {
  id: number;
  action: string;
  count: number;
  reason: string;
  requested_by: string;
  created_at: string | number;
  state: string; // awaiting_approval, approved, rejected
}

export interface Meter {
  id: number;
  meter_id: string;
  customer_id: number | null;
  agent_id: string | null;
  last_seen_at: string | null;
}

export interface RateRow {
  day: string;
  group: string;
  group_code: string;
  expected: number;
  collected: number;
  rate: number | null;
}

export const arrears = () => get<Page<Arrear>>('/prepaid/arrears?limit=100');
export const queue = () => get<Page<QueueItem>>('/prepaid/disconnect-queue?limit=100');
export const batches = () => get<Page<Batch>>('/commands/batches?state=awaiting_approval');
export const commands = () => get<Page<Command>>('/commands?limit=50');
export const offlineMeters = () => get<Page<Meter>>('/meters/offline?limit=100');

/** Ask for a disconnect batch from queue items; a second operator approves it. */
export const proposeBatch = (ids: number[], reason: string, key: string) =>
  post<Batch>('/prepaid/disconnect-queue/batches', { queue_ids: ids, reason }, { 'idempotency-key': key });
export const approveBatch = (id: number) => post<Batch>(`/commands/batches/${id}/approve`, {});
export const rejectBatch = (id: number, note: string) => post<Batch>(`/commands/batches/${id}/reject`, { note });

const iso = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function collectionRate(days = 7): Promise<RateRow[]> {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return get<RateRow[]>(`/collection-rate?from=${iso(from)}&to=${iso(to)}`);
}
