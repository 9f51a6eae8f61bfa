// Account changes after energisation (backend/expansion/changes, docs/lifecycle.md): the
// customer requests, an operator approves or rejects.
import { get, newId, post } from '../../lib/api';
import type { Params } from '../../i18n';

export type ChangeKind = 'category' | 'closure' | 'ownership' | 'name' | 'capacity' | 'suspension' | 'resumption' | 'move' | 'temporary';
export type ChangeStatus = 'requested' | 'applied' | 'rejected';

export const CATEGORIES = ['residential', 'non_residential_lighting', 'general_industry', 'large_industry', 'agricultural', 'commercial'];

export interface Change {
  id: number;
  account_id: number;
  account_number: string;
  kind: ChangeKind;
  status: ChangeStatus;
  effective_from: string; // local day, YYYY-MM-DD
  before: Params;
  after: Params;
  note: string;
  order_id: number;
  requested_at: number;
  decided_at: number | null;
  reason: string;
}

export type ChangeBody =
  | { kind: 'category'; account_id: number; category: string; effective_from: string; note?: string }
  | { kind: 'closure'; account_id: number; settlement: 'refund' | 'transfer'; transfer_to_account_id?: number; note?: string }
  | { kind: 'ownership'; account_id: number; holder_name: string; holder_phone: string; effective_from: string; settlement: 'carry' | 'refund'; note?: string }
  | { kind: 'name'; account_id: number; holder_name: string; id_document: string; effective_from: string; note?: string }
  | { kind: 'capacity'; account_id: number; capacity_kva: number; effective_from: string; note?: string }
  | { kind: 'suspension'; account_id: number; effective_from: string; until: string; note?: string }
  | { kind: 'resumption'; account_id: number; effective_from: string; note?: string }
  | { kind: 'move'; account_id: number; address: string; settlement: 'transfer' | 'refund'; note?: string }
  | { kind: 'temporary'; account_id: number; until: string; note?: string };

/** One key per form: a double tap or a retry is the same change. */
export const changeKey = () => `chg-${newId()}`;

export const changes = (query = '') => get<{ items: Change[]; total: number }>(`/lifecycle/changes${query}`);
export const requestChange = (body: ChangeBody, key: string) => post<Change>('/lifecycle/changes', body, { 'Idempotency-Key': key });
export const approveChange = (id: number) => post<Change>(`/lifecycle/changes/${id}/approve`);
export const rejectChange = (id: number, reason: string) => post<Change>(`/lifecycle/changes/${id}/reject`, { reason });

/** Today as a local YYYY-MM-DD (the default effective day). */
export function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
