// Key accounts (backend/keyaccounts): the manager's portfolio, the customer 360, visits, notes,
// and the customer's own manager. Online calls: each screen shows the error if there is no signal.
import type { Params } from '../../i18n';
import { api, get, newId, post } from '../../lib/api';

export interface Alert {
  code: string;
  params: Params;
}

export interface PortfolioItem {
  customer_id: number;
  number: string;
  name: string;
  grid_id: number | null;
  key_account_classes: number[];
  abc_class: string | null;
  credit_rating: string | null;
  manager_id: number | null;
  alerts: Alert[];
  tags: string[];
  service_level: string | null;
}

// R97: a computed tag is a code the app words (`tag.*`); a manual one is the manager's label
export const COMPUTED_TAGS = [
  'consumption_high',
  'consumption_low',
  'pays_on_time',
  'pays_late',
  'in_arrears',
  'credit_excellent',
  'credit_poor',
  'growing',
  'declining',
  'profit_value',
  'safety_value',
  'social_value',
  'potential',
];

export interface Tag {
  tag: string;
  source: 'computed' | 'manual';
  added_by: string;
  added_at: string;
}

export interface TagEvent {
  tag: string;
  source: 'computed' | 'manual';
  added: boolean;
  actor: string;
  at: string;
}

export interface Visit {
  id: number;
  client_id: string;
  customer_id: number;
  customer_name: string;
  planned_for: string;
  purpose: string;
  status: 'planned' | 'done' | 'cancelled';
  checked_in_at: string | null;
  latitude: number | null;
  longitude: number | null;
  accuracy_m: number | null;
  distance_m: number | null;
}

export interface NoteOut {
  id: number;
  author: string;
  from_customer: boolean;
  text: string;
  answered: boolean;
  created_at: string;
}

export interface Manager {
  user_id: number;
  display_name: string;
  phone: string;
  kind: 'key_account' | 'grid';
}

export interface Profile {
  version: number;
  org_type: string;
  capacity_kva: number;
  new_capacity_kva: number;
  voltage_level: string | null;
  industry_code: string;
  households: number;
  industrial_park: string;
  important: boolean;
  technical_contact: string;
  technical_phone: string;
  billing_contact: string;
  billing_phone: string;
  contract_expires_on: string | null;
}

export interface C360 {
  customer: { id: number; number: string; name: string; phone: string; address: string; category: string };
  profile: Profile | null;
  key_account_classes: number[];
  segment: { abc_class: string; annual_revenue_fen: number; credit_score: number; credit_rating: string; service_level: string } | null;
  managers: Manager[];
  accounts: { id: number; number: string; kind: string; balance_fen: number }[];
  arrears_fen: number;
  meters: { id: number; meter_id: string; status: string; online: boolean }[];
  trend: { day: string; wh: number }[];
  alerts: Alert[];
  visits: Visit[];
  notes: NoteOut[];
  work_orders: { id: number; kind: string; status: string; created_at: number; closed_at: number | null }[];
  tags: Tag[];
}

const KA = '/key-accounts';

export const portfolio = (alertsOnly: boolean, tag = '') =>
  get<{ items: PortfolioItem[]; total: number }>(
    `${KA}/portfolio?limit=200${alertsOnly ? '&alerts_only=true' : ''}${tag ? `&tag=${encodeURIComponent(tag)}` : ''}`,
  );
export const customerTags = (id: number) => get<{ tags: Tag[]; history: TagEvent[] }>(`${KA}/customers/${id}/tags`);
export const addTag = (id: number, tag: string) => post<Tag>(`${KA}/customers/${id}/tags`, { tag });
export const removeTag = (id: number, tag: string) => api<null>('DELETE', `${KA}/customers/${id}/tags/${encodeURIComponent(tag)}`);
export const customer360 = (id: number) => get<C360>(`${KA}/customers/${id}`);
export const myVisits = () => get<Visit[]>(`${KA}/visits`);
export const planVisit = (customerId: number, plannedFor: string, purpose: string) =>
  post<Visit>(`${KA}/visits`, { client_id: newId(), customer_id: customerId, planned_for: plannedFor, purpose });
export const checkIn = (visitId: number, latitude: number, longitude: number, accuracy_m: number) =>
  post<Visit>(`${KA}/visits/${visitId}/check-in`, { latitude, longitude, accuracy_m });
export const addNote = (customerId: number, text: string) => post<NoteOut>(`${KA}/customers/${customerId}/notes`, { text });
export const saveProfile = (customerId: number, profile: Profile) => api<Profile>('PUT', `${KA}/customers/${customerId}/profile`, profile);
export const myManagers = () => get<Manager[]>(`${KA}/my-manager`);
export const messageManager = (text: string) => post<NoteOut>(`${KA}/my-manager/messages`, { text });
