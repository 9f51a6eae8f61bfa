// Transformer areas (台区) for the service centre: the network with live outages, line loss,
// voltage quality, load and reliability. Energy integer Wh, times epoch ms (UTC).
import { get, post } from '../../lib/api';

export interface AreaOutage {
  id: number;
  transformer_area_id: number;
  area_code: string;
  area_name: string;
  cause: string; // planned, unplanned, emergency, limited
  started_at: number;
  ended_at: number | null;
  meters: number;
  meters_off: number;
  customers: number;
  feeder_outage_id: number | null;
  work_order_id: number | null; // the service-desk fault order opened for it
  sources: string[]; // bus_silent, meter_record, last_will
  suspected: boolean; // known only from an agent's last will (with other evidence)
}

export interface FeederOutage {
  id: number;
  feeder_code: string;
  feeder_name: string;
  started_at: number;
  ended_at: number | null;
  areas: AreaOutage[];
  work_order_id: number | null; // the one fault order of the feeder outage
}

export interface Loss {
  transformer_area_id: number;
  area_code: string;
  day: string;
  supplied_wh: number | null;
  billed_wh: number;
  loss_wh: number | null;
  rate: number | null;
  expected_meters: number;
  reporting_meters: number;
  state: string; // normal, high, negative, incomplete, no_total
}

export interface Area {
  id: number;
  code: string;
  name: string;
  feeder_code: string | null;
  substation_code: string | null;
  rated_kva: number;
  total_meter_id: string | null;
  ct_ratio: number;
  pt_ratio: number;
  meters: number;
  outage: AreaOutage | null;
  loss: Loss | null;
  unknown_meters: number; // meters whose agent is offline: supply unknown
}

export interface Quality {
  samples: number;
  within: number;
  above: number;
  below: number;
  rate: number | null;
  unbalance_max: number | null;
  worst: { meter_id: string; phases: number; samples: number; rate: number | null }[];
}

export interface Load {
  rated_kva: number;
  peak_w: number | null;
  peak_at: number | null;
  load_rate: number | null;
  overloaded: boolean;
  points: [number, number][];
}

export interface Reliability {
  scope: string;
  id: number;
  code: string;
  customers: number;
  interruptions: number;
  saifi: number | null;
  saidi_hours: number | null;
  rs1: number | null;
  rs3: number | null;
}

const iso = (d: Date) => d.toISOString().slice(0, 10);

export const areas = () => get<Area[]>('/areas');
export const areaOutages = () => get<AreaOutage[]>('/areas/outages?limit=20');
export const feederOutages = () => get<FeederOutage[]>('/areas/feeder-outages?limit=10');
export const quality = (id: number) => get<Quality>(`/areas/${id}/quality`);
export const load = (id: number) => get<Load>(`/areas/${id}/load`);
export function losses(days = 7): Promise<Loss[]> {
  const to = new Date(Date.now() - 86_400_000);
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return get<Loss[]>(`/areas/loss?from=${iso(from)}&to=${iso(to)}`);
}
export function reliability(days = 30): Promise<Reliability[]> {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return get<Reliability[]>(`/areas/reliability?from=${iso(from)}&to=${iso(to)}`);
}
export interface Peak {
  period: string;
  peak_w: number;
  peak_at: number;
  load_rate: number | null;
  overloaded: boolean;
}
export interface Demand {
  rated_kva: number;
  days: Peak[];
  months: Peak[];
}
/** The last year's daily peaks and monthly maximum demand (台区需量趋势). */
export function demand(id: number): Promise<Demand> {
  const to = new Date();
  const from = new Date(to.getTime() - 364 * 86_400_000);
  return get<Demand>(`/areas/${id}/demand?from=${iso(from)}&to=${iso(to)}`);
}

export interface Suspicion {
  id: number;
  meter_id: string;
  area_code: string;
  day: string;
  baseline_wh_per_day: number;
  recent_wh_per_day: number;
  loss_rate_before: number;
  loss_rate_after: number;
  task_status: string;
}
export const suspicions = () => get<Suspicion[]>('/areas/suspicions?limit=50');
export function detectSuspicions(): Promise<{ areas_checked: number; areas_rising: number; new: Suspicion[] }> {
  return post('/areas/suspicions/detect', {});
}
export const drill = (id: number, restore: boolean) => post<{ meters: number }>(`/areas/${id}/drill`, { restore });
