// The service centre's data (95598): arrears, the disconnect queue with the policy's reasons,
// commands and bulk commands with their four-eyes approval, offline meters, the collection
// success rate. Money integer fen, times UTC.
import type { Params } from '../../i18n';
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
  customer_id: number;
  customer_number: string;
  customer_name: string;
  phone: string;
  protected: boolean;
  balance_fen: number;
  credit_limit_fen: number;
  supply: string;
  episode_opened_at: string | null;
}

export interface PolicyReason {
  rule: string; // arrears, protected, supply, warning, working_day, holiday_eve, hours
  ok: boolean; // this rule allows the disconnect
  message: string; // English, for logs: the screen words `code` with `params`
  code: string;
  params: Params;
}

export interface CommandRef {
  id: string;
  kind: string;
  state: string;
  created_at: string;
}

/** An account past the disconnect threshold with supply on, and the policy's verdict. */
export interface QueueItem {
  account_id: number;
  account_number: string;
  customer_name: string;
  balance_fen: number;
  credit_limit_fen: number;
  policy: { due: boolean; reasons: PolicyReason[]; next_allowed_at: string | null };
  pending_commands: CommandRef[];
}

export interface Command {
  id: string;
  meter_pk: number;
  meter_id: string;
  account_id: number | null;
  kind: string; // disconnect, reconnect, arm_reconnect, …
  state: string; // awaiting_approval, queued, dispatched, received, executed, verified, …
  terminal: boolean;
  reason: string;
  actor: string;
  approver: string | null;
  batch_id: number | null;
  error: string | null; // English or the agent's words: the screen words `error_code`
  created_at: string;
  updated_at: string;
  reason_code: string | null; // set when the engine gave the reason; an operator's is `reason`
  reason_params: Params;
  error_code: string | null;
  error_params: Params;
}

export interface Batch {
  id: number;
  kind: string;
  reason: string;
  requested_by: string;
  needs_approval: boolean;
  decision: string | null;
  decided_by: string | null;
  created_at: string;
  commands: Command[];
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
export const queue = () => get<Page<QueueItem> & { as_of: string }>('/prepaid/disconnect-queue?limit=100');
export const awaitingApproval = () => get<Page<Batch>>('/command-batches?awaiting_approval=true');
export const commands = () => get<Page<Command>>('/commands?limit=50');
export const offlineMeters = () => get<Page<Meter>>('/meters/offline?limit=100');

/** Order a bulk disconnect of the accounts' meters; it waits for a second operator. */
export async function proposeDisconnect(accountIds: number[], reason: string): Promise<Batch> {
  const pages = await Promise.all(accountIds.map((id) => get<Page<Meter>>(`/meters?account_id=${id}&status=active&limit=100`)));
  const meterPks = pages.flatMap((p) => p.items.map((m) => m.id));
  return post<Batch>('/command-batches', { meter_pks: meterPks, kind: 'disconnect', reason });
}

export const approveBatch = (id: number) => post<Batch>(`/command-batches/${id}/approve`, { comment: '' });
export const rejectBatch = (id: number, comment: string) => post<Batch>(`/command-batches/${id}/reject`, { comment });

const iso = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function collectionRate(days = 7): Promise<RateRow[]> {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return get<RateRow[]>(`/collection-rate?from=${iso(from)}&to=${iso(to)}`);
}
