// The customer's data: their customer record and accounts (api), the prepaid state of the
// account (prepaid), consumption (api). Money integer fen, energy integer Wh.
import { signal } from '@preact/signals';
import { authFetch, get, me } from '../../lib/api';
import type { TopUpSender } from '../../lib/topup';

export interface Account {
  id: number;
  number: string;
  customer_id: number;
  kind: 'prepaid' | 'postpaid';
  balance_fen: number;
  credit_limit_fen: number;
  cycle_start: string | null;
}

export interface CustomerDetail {
  customer: { id: number; number: string; name: string; address: string };
  accounts: Account[];
  meters: { id: number; meter_id: string; status: string; account_id: number | null }[];
}

export type SupplyState = 'connected' | 'disconnected' | 'ready_to_reconnect';

export interface TierNow {
  tier: number; // 1-based 阶梯
  used_wh: number; // in this tariff cycle so far
  next_threshold_wh: number | null; // where the next tier starts; null on the last tier
  price: string; // exact decimal CNY per kWh, as the tariff says it
}

export interface PrepaidStatus {
  account_id: number;
  balance_fen: number;
  days_left: number | null; // at the recent daily spend; null when there is too little history
  supply: SupplyState;
  supply_reason: string;
  tier: TierNow | null;
}

export interface LedgerEntry {
  id: number;
  kind: string; // top_up, charge, refund, adjustment, reversal
  amount_fen: number;
  balance_after_fen: number;
  memo: string;
  at: string | number;
}

export interface Notice {
  id: number | string;
  kind: string; // low_balance, disconnect_warning, disconnected, outage, reconnected …
  title: string;
  body: string;
  at: string | number;
}

export interface DailyUse {
  day: string;
  wh: number;
}

export interface MonthlyUse {
  month: string;
  wh: number;
}

/** The receipt of a top-up (购电凭证). */
export interface TopUpResult {
  receipt_number: string;
  account_id: number;
  account_number: string;
  amount_fen: number;
  channel: string;
  paid_at: string;
  balance_after_fen: number;
}

export const detail = signal<CustomerDetail | null>(null);

export async function loadDetail(): Promise<CustomerDetail> {
  const id = me.value?.customer_id;
  if (!id) throw new Error('not a customer login');
  const d = await get<CustomerDetail>(`/customers/${id}`);
  detail.value = d;
  return d;
}

/** The account the screens show: the first prepaid one, else the first. */
export function mainAccount(d: CustomerDetail): Account | undefined {
  return d.accounts.find((a) => a.kind === 'prepaid') ?? d.accounts[0];
}

export const prepaidStatus = (accountId: number) => get<PrepaidStatus>(`/accounts/${accountId}/prepaid`);
export const ledger = (accountId: number) => get<{ items: LedgerEntry[] }>(`/accounts/${accountId}/ledger?limit=50`);
export const notices = (accountId: number) => get<Notice[]>(`/accounts/${accountId}/notices`);

const iso = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function daily(accountId: number, days = 30): Promise<DailyUse[]> {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return get<DailyUse[]>(`/accounts/${accountId}/consumption/daily?quantity=energy_import&from=${iso(from)}&to=${iso(to)}`);
}

export function monthly(accountId: number, months = 12): Promise<MonthlyUse[]> {
  const to = new Date();
  const from = new Date(to.getFullYear(), to.getMonth() - (months - 1), 1);
  return get<MonthlyUse[]>(`/accounts/${accountId}/consumption/monthly?quantity=energy_import&from=${iso(from).slice(0, 7)}&to=${iso(to).slice(0, 7)}`);
}

export const sendTopUp: TopUpSender = (accountId, amountFen, key) =>
  authFetch(`/api/accounts/${accountId}/top-ups`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ amount_fen: amountFen, channel: 'app' }),
  });
