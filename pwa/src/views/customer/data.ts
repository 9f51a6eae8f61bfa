// The customer's data: their customer record and accounts, the prepaid state of the account
// (balance, supply, ledger, notices), outages in their area, consumption. Money integer fen,
// energy integer Wh, times UTC.
import type { Params } from '../../i18n';
import { authFetch, get, me, post } from '../../lib/api';
import type { TopUpSender } from '../../lib/topup';

export interface Account {
  id: number;
  number: string;
  customer_id: number;
  kind: 'prepaid' | 'postpaid';
  balance_fen: number;
  credit_limit_fen: number;
  cycle_start: string | null;
  closed_at?: string | null; // 销户
}

export interface CustomerDetail {
  customer: { id: number; number: string; name: string; address: string; transformer_area_id: number | null; category: string };
  accounts: Account[];
  meters: { id: number; meter_id: string; status: string; account_id: number | null }[];
}

/** Where the account stands in its tariff's tiers today (阶梯, GET /accounts/{id}/tier). */
export interface TierNow {
  tariff: string;
  tariff_name: string;
  cycle: 'annual' | 'monthly';
  cycle_start: string; // local day
  cycle_end: string; // the cycle's last local day
  tier: number; // 1-based: 第一档 = 1
  tiers: number; // 1: the tariff has no tiers
  used_wh: number; // in this cycle so far
  next_threshold_wh: number | null; // where the next tier starts; null on the last tier
  left_wh: number | null; // what is left in the current tier; null on the last tier
  price: string; // exact decimal CNY per kWh
}

export interface Balance {
  account_id: number;
  account_number: string;
  balance_fen: number;
  credit_limit_fen: number;
  available_fen: number;
  average_daily_spend_fen: number;
  days_left: number | null; // days of credit at the recent spend; null without consumption
  low: boolean;
  in_arrears: boolean;
  as_of: string;
}

export type SupplyState = 'connected' | 'disconnected' | 'ready_to_reconnect' | 'unknown';
export type SupplyAction = 'none' | 'top_up' | 'press_button' | 'wait' | 'contact_service';

export interface Supply {
  account_id: number;
  supply: SupplyState;
  action: SupplyAction;
  message: string;
  amount_to_restore_fen: number;
  planned_disconnect_at: string | null;
}

export interface LedgerEntry {
  id: number;
  kind: string; // top_up, consumption_charge, adjustment, refund, reversal
  amount_fen: number;
  balance_after_fen: number;
  memo: string; // as written by staff (or, in English, by the system: then `memo_code` says it)
  created_at: string;
  memo_code: string | null;
  memo_params: Params;
}

export interface Notice {
  id: number;
  kind: string; // low_balance, disconnect_warning, disconnected, restored
  channel: string;
  text: string; // as sent to the customer (SMS): the app words `code` in its own language
  planned_disconnect_at: string | null;
  created_at: string;
  code: string | null;
  params: Params;
}

export interface Outage {
  id: number;
  kind: 'planned' | 'unplanned';
  status: 'upcoming' | 'ongoing' | 'ended' | 'cancelled';
  area: string;
  starts_at: number;
  expected_end_at: number;
  reason: string;
}

interface Page<T> {
  items: T[];
  total: number;
}

export interface DailyUse {
  day: string;
  wh: number;
}

export interface MonthlyUse {
  month: string;
  wh: number;
}

/** An online payment order: pending until the payment provider confirms it. */
export interface PaymentOrder {
  order_no: string;
  account_id: number;
  amount_fen: number;
  channel: string;
  provider: 'wechat' | 'alipay' | 'simulated';
  status: 'pending' | 'paid' | 'expired';
  created_at: string;
  expires_at: string;
  paid_at: string | null;
  receipt_number: string | null;
  balance_after_fen: number | null;
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

export async function loadDetail(): Promise<CustomerDetail> {
  const id = me.value?.customer_id;
  if (!id) throw new Error('not a customer login');
  return get<CustomerDetail>(`/customers/${id}`);
}

/** The account the screens show: the first prepaid one, else the first. */
export function mainAccount(d: CustomerDetail): Account | undefined {
  const open = d.accounts.filter((a) => !a.closed_at); // a closed account (销户) only when no other
  return open.find((a) => a.kind === 'prepaid') ?? open[0] ?? d.accounts[0];
}

export const balance = (accountId: number) => get<Balance>(`/accounts/${accountId}/balance`);
export const tierNow = (accountId: number) => get<TierNow | null>(`/accounts/${accountId}/tier`);
/** A month's bill (GET /accounts/{id}/bills/{YYYY-MM}): lines as codes with parameters. */
export interface BillLine {
  code: string;
  params: Record<string, string | number>;
  exact_cny: string;
  amount_fen: number;
}
export interface Bill {
  month: string;
  lines: BillLine[];
  exact_cny: string;
  total_fen: number;
  due_on: string;
  energy_wh: number;
  power_factor: string | null;
}
export const bill = (accountId: number, month: string) => get<Bill>(`/accounts/${accountId}/bills/${month}`);
/** An issued postpaid bill (GET /accounts/{id}/issued-bills): stored once, paid oldest first. */
export interface IssuedBill {
  id: number;
  number: string;
  account_id: number;
  month: string;
  revision: number;
  lines: BillLine[];
  exact_cny: string;
  total_fen: number;
  energy_wh: number;
  due_on: string;
  issued_at: string;
  paid_fen: number;
  owed_fen: number;
  paid: boolean;
  late_fee_fen: number;
  superseded: boolean;
  /** a revision: the total of the revision it replaced */
  previous_fen: number | null;
}
export const issuedBills = (accountId: number) =>
  get<{ items: IssuedBill[]; owed_fen: number; late_fee_fen: number }>(`/accounts/${accountId}/issued-bills`);
/** The issued bill as a PDF (GET /issued-bills/{id}/pdf) in the reader's language, through the
 * authorised fetch, handed to the browser as a download. */
export async function downloadBillPdf(b: IssuedBill, language: string): Promise<void> {
  const r = await authFetch(`/api/issued-bills/${b.id}/pdf?lang=${encodeURIComponent(language)}`);
  if (!r.ok) throw new Error(String(r.status));
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `${b.number}.pdf`;
  a.click();
  URL.revokeObjectURL(url);
}
/** A schedule of the account's category the customer may compare (GET /accounts/{id}/tariff-options). */
export interface TariffOption {
  schedule: string;
  name: string;
  time_of_use: boolean;
  current: boolean;
  /** a year back, or the schedule's first day when later */
  compare_from: string;
}
/** R45: the account's own billed stretch priced on another schedule (GET …/tariff-comparison). */
export interface Comparison {
  account_id: number;
  schedule: string;
  from_day: string;
  to_day: string;
  energy_wh: number;
  billed_fen: number;
  alternative_fen: number;
  difference_fen: number;
}
export const tariffOptions = (accountId: number) =>
  get<{ account_id: number; category: string; on: string; items: TariffOption[] }>(
    `/accounts/${accountId}/tariff-options`,
  );
export const compareTariff = (accountId: number, o: TariffOption) =>
  get<Comparison>(
    `/accounts/${accountId}/tariff-comparison?schedule=${encodeURIComponent(o.schedule)}&from=${o.compare_from}`,
  );
export const supply = (accountId: number) => get<Supply>(`/accounts/${accountId}/supply`);
export const ledger = (accountId: number) => get<Page<LedgerEntry>>(`/accounts/${accountId}/ledger?limit=50`);

/** A notice goes out once per channel (SMS, app, …): the app shows each one once. */
export async function notices(accountId: number): Promise<Notice[]> {
  const page = await get<Page<Notice>>(`/accounts/${accountId}/notices?limit=50`);
  const seen = new Set<string>();
  return page.items.filter((n) => {
    const key = `${n.kind}|${n.text}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function outages(areaId: number | null): Promise<Outage[]> {
  return get<Outage[]>(areaId === null ? '/servicedesk/outages' : `/servicedesk/outages?transformer_area_id=${areaId}`);
}

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

/** Starts an online payment: the server makes one pending order per Idempotency-Key. */
export const sendTopUp: TopUpSender = (accountId, amountFen, key) =>
  authFetch(`/api/accounts/${accountId}/payment-orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ amount_fen: amountFen, channel: 'app' }),
  });

export const paymentOrder = (accountId: number, orderNo: string) =>
  get<PaymentOrder>(`/accounts/${accountId}/payment-orders/${encodeURIComponent(orderNo)}`);

/** Demo only: the simulated wallet pays the order (it signs the provider's notification). */
export const payWithSimulatedWallet = (accountId: number, orderNo: string) =>
  post<PaymentOrder>(`/accounts/${accountId}/payment-orders/${encodeURIComponent(orderNo)}/simulated-payment`);

/** An outage found from the meters that cut this customer's supply, and what they were told. */
export interface MyOutage {
  outage_id: number;
  area_name: string;
  cause: string;
  off_at: number;
  on_at: number | null;
  expected_end_at: number | null;
  notices: { code: string; params: Params }[];
}

export const myOutages = () => get<MyOutage[]>('/areas/outages/mine');
