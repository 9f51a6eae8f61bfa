// The service centre's data (95598): arrears, the disconnect queue with the policy's reasons,
// commands and bulk commands with their four-eyes approval, offline meters, the collection
// success rate. Money integer fen, times UTC.
import type { Params } from '../../i18n';
import { ApiError, get, post } from '../../lib/api';

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

/** One rule of a verdict: what it says is a `policy.*` code with its parameters (`say`). */
export interface RuleVerdict {
  rule: string;
  ok: boolean;
  code: string;
  params: Params;
}

/** The disconnect policy's verdict as codes: `blocked_by` are rule names (label 'rule'). */
export interface Verdict {
  due: boolean;
  blocked_by: string[];
  protected: boolean;
  balance_fen: number | null;
  next_allowed_at: string | null;
  rules: RuleVerdict[];
}

/** Whose supply a command touches. */
export interface Subject {
  customer_name: string;
  customer_number: string;
  address: string;
  account_number: string | null;
  balance_fen: number | null;
  owed_fen: number;
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
  approval: string; // none, four_eyes, override, supervisor_override
  verdict: Verdict | null;
  override_reason: string | null;
  retry_of: string | null;
  subject: Subject | null;
  reason_code: string | null; // set when the engine gave the reason; an operator's is `reason`
  reason_params: Params;
  error_code: string | null;
  error_params: Params;
}

export interface AuditEntry {
  at: string;
  actor: string;
  event: string;
  from_state: string | null;
  to_state: string;
  detail: string; // English, for the log: the screen shows `note`
  note: string | null; // a person's own words (a reason, a comment)
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
  approval: string;
  override_reason: string | null;
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

/** Order a bulk disconnect of the accounts' meters; it waits for a second operator. Accounts
 * the policy does not find due need an override reason. */
export async function proposeDisconnect(accountIds: number[], reason: string, overrideReason?: string): Promise<Batch> {
  const pages = await Promise.all(accountIds.map((id) => get<Page<Meter>>(`/meters?account_id=${id}&status=active&limit=100`)));
  const meterPks = pages.flatMap((p) => p.items.map((m) => m.id));
  const body = { meter_pks: meterPks, kind: 'disconnect', reason, ...(overrideReason ? { override_reason: overrideReason } : {}) };
  return post<Batch>('/command-batches', body);
}

export interface Decision {
  comment: string;
  override: boolean;
}

export const approveBatch = (id: number, d: Decision = { comment: '', override: false }) => post<Batch>(`/command-batches/${id}/approve`, d);
export const rejectBatch = (id: number, comment: string) => post<Batch>(`/command-batches/${id}/reject`, { comment });

/** Single commands waiting for a second person (a batch's are decided with the batch). */
export async function awaitingCommands(): Promise<Command[]> {
  const page = await get<Page<Command>>('/commands?state=awaiting_approval&limit=100');
  return page.items.filter((c) => c.batch_id === null);
}

export const approveCommand = (id: string, d: Decision) => post<Command>(`/commands/${encodeURIComponent(id)}/approve`, d);
export const rejectCommand = (id: string, comment: string) => post<Command>(`/commands/${encodeURIComponent(id)}/reject`, { comment });
export const cancelCommand = (id: string, reason: string) => post<Command>(`/commands/${encodeURIComponent(id)}/cancel`, { reason });
export const retryCommand = (id: string, reason: string, overrideReason?: string) =>
  post<Command>(`/commands/${encodeURIComponent(id)}/retry`, { reason, ...(overrideReason ? { override_reason: overrideReason } : {}) });
export const commandDetail = (id: string) => get<{ command: Command; audit: AuditEntry[] }>(`/commands/${encodeURIComponent(id)}`);

/** Order one command for the meter with this number (表号 / meter id). */
export async function orderCommand(meterId: string, kind: string, reason: string, overrideReason?: string): Promise<Command> {
  const page = await get<Page<Meter>>(`/meters?meter_id=${encodeURIComponent(meterId)}&limit=1`);
  const meter = page.items[0];
  if (!meter) throw new Error('no-meter');
  return post<Command>('/commands', { meter_pk: meter.id, kind, reason, ...(overrideReason ? { override_reason: overrideReason } : {}) });
}

/** Whether a refusal asks for an override reason (the policy blocks the disconnect). */
export function overrideAsked(err: unknown): boolean {
  return err instanceof ApiError && (err.code === 'error.override_required' || err.code === 'error.supervisor_override_required');
}

/** Whether approving needs an explicit override (the policy blocks it, or it is protected). */
export const needsOverride = (approval: string) => approval === 'override' || approval === 'supervisor_override';

const iso = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export async function collectionRate(days = 7): Promise<RateRow[]> {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  // overall: one row a day, so one page holds the days asked for
  const page = await get<{ items: RateRow[] }>(`/collection-rate?from=${iso(from)}&to=${iso(to)}&limit=${days}`);
  return page.items;
}
