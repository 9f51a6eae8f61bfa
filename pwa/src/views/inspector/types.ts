// Shapes of the field API (backend/field/*_schemas.py). Energy integer Wh, times UTC epoch ms.
import type { Params } from '../../i18n';

export interface LastValue {
  value_wh: number;
  ts: number;
  source: string;
}

/** Where energy_import should be when read at time t (see the backend's Expected). */
export interface Expected {
  previous_wh: number;
  previous_ts: number;
  low_wh_per_day: number;
  high_wh_per_day: number;
}

export interface BookCustomer {
  id: number;
  number: string; // 户号
  name: string;
  address: string;
  phone: string;
  category: string;
  key_account_class: number | null;
  latitude: number | null;
  longitude: number | null;
}

export interface BookMeter {
  meter_id: string;
  serial: string;
  latitude: number | null;
  longitude: number | null;
  last: Record<string, LastValue>;
  expected: Expected | null;
}

export interface BookTask {
  id: number;
  kind: string;
  status: string;
  due_on: string | null;
  note: string;
}

export interface BookItem {
  seq: number;
  kind: 'reading' | 'visit';
  reasons: string[];
  customer: BookCustomer;
  meter: BookMeter | null;
  tasks: BookTask[];
  done: { reading_id: string; ts: number } | null;
}

export interface Book {
  id: number;
  cycle: string;
  version: number;
  inspector_id: number;
  generated_at: number;
  planned_at: number;
  route_length_m: number;
  total: number;
  done: number;
  items: BookItem[];
}

export interface GpsFix {
  latitude: number;
  longitude: number;
  accuracy_m: number;
  fix_at: number;
}

export interface Flag {
  id: number;
  kind: string;
  detail: string; // English, for logs: the screens word `code` with `params`
  code: string | null; // null on flags raised before codes: the kind says it
  params: Params;
  status: 'open' | 'resolved';
  reading_id: string;
  meter_id: string;
  inspector_id: number;
  created_at: number;
  resolved_by?: number | null;
  resolved_at?: number | null;
  resolution?: string;
}

export interface FieldReading {
  id: string;
  kind: 'reading' | 'correction';
  status: string;
  meter_id: string;
  customer_number: string | null;
  registers: Record<string, number>;
  ts: number;
  fix: GpsFix | null;
  received_at: number;
  photo_sha256: string | null;
  note: string;
  flags: Flag[];
}

/** GET /api/field/nearby: meters near a fix, and `here`, the stop the inspector most
 * probably stands at (one meter or a meter box), with a confidence from 0 to 1. */
export interface NearbyMeter {
  meter_id: string;
  serial: string;
  customer: { id: number; number: string; name: string; address: string };
  latitude: number;
  longitude: number;
  distance_m: number;
}

export interface Nearby {
  latitude: number;
  longitude: number;
  accuracy_m: number;
  radius_m: number;
  here: { confidence: number; distance_m: number; meters: NearbyMeter[] } | null;
  meters: NearbyMeter[];
}

/** The range a reading at time t should fall in, or null without history. Mirrors the backend. */
export function expectedRange(e: Expected | null, t: number): { low: number; high: number } | null {
  if (!e) return null;
  const days = Math.max(0, (t - e.previous_ts) / 86_400_000);
  return {
    low: e.previous_wh + Math.floor(e.low_wh_per_day * days),
    high: e.previous_wh + Math.ceil(e.high_wh_per_day * Math.max(days, 1)),
  };
}
