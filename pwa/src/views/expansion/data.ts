// Applications for supply (业扩报装): the API's shapes and calls (docs/expansion.md).
import { api, apiError, authFetch, get, newId } from '../../lib/api';
import type { Params } from '../../i18n';

export type SupplyType = 'residential' | 'low_voltage' | 'high_voltage';

export interface StepView {
  key: string;
  role: string;
  deadline: number;
  unit: string;
  started_at: number | null;
  due_at: number | null;
  finished_at: number | null;
  on_time: boolean | null;
}

export interface Entry {
  at: number;
  code: string;
  step: string;
  actor_id: number | null;
  params: Params;
}

export interface Application {
  id: number;
  number: string;
  supply_type: SupplyType;
  kind: 'new' | 'increase';
  channel: string;
  status: 'open' | 'energised' | 'cancelled';
  category: string;
  applicant_name: string;
  address: string;
  capacity_kva: number;
  green_channel: boolean;
  step: string;
  step_due_at: number;
  overdue: boolean;
  version: number;
  transformer_area_id: number | null;
  missing_documents: string[];
  documents: { id: number; kind: string; content_type: string; size_bytes: number }[];
  steps: StepView[];
  fee_lines: { code: string; amount_fen: number }[];
  fees_fen: number;
  meter_id: string;
  energised_at: number | null;
  timeline: Entry[];
}

export type Row = Pick<
  Application,
  'id' | 'number' | 'supply_type' | 'kind' | 'status' | 'applicant_name' | 'green_channel' | 'step' | 'step_due_at' | 'overdue' | 'version' | 'missing_documents'
>;

export interface ApplyBody {
  supply_type: SupplyType;
  category: string;
  applicant_name: string;
  phone: string;
  address: string;
  capacity_kva: number;
  transformer_area_id?: number;
}

export interface Figures {
  types: { supply_type: SupplyType; applications: number; energised: number; mean_to_energise_ms: number | null; on_time_rate: number | null }[];
  steps: { supply_type: SupplyType; step: string; finished: number; on_time_rate: number | null; mean_lead_ms: number | null }[];
}

export const CATEGORIES: Record<SupplyType, string[]> = {
  residential: ['residential'],
  low_voltage: ['general_industry', 'commercial', 'non_residential_lighting', 'agricultural'],
  high_voltage: ['large_industry', 'general_industry', 'commercial'],
};

const BASE = '/expansion';
export const applyKey = () => `yk-${newId()}`;
export const apply = (body: ApplyBody, key: string) => api<Application>('POST', `${BASE}/applications`, body, { 'Idempotency-Key': key });
export const applications = (overdue = false) => get<{ items: Row[]; total: number }>(`${BASE}/applications${overdue ? '?overdue=true' : ''}`);
export const application = (id: number) => get<Application>(`${BASE}/applications/${id}`);
export const advance = (a: Application) => api<Application>('POST', `${BASE}/applications/${a.id}/advance`, { step: a.step, version: a.version });
export const WITHDRAWAL_REASONS = ['customer_request', 'duplicate', 'documents_not_provided', 'not_feasible', 'no_response'] as const;
export const withdraw = (a: Application, reason: string) =>
  api<Application>('POST', `${BASE}/applications/${a.id}/withdraw`, { version: a.version, reason });
export const figures = () => get<Figures>(`${BASE}/indicators`);

export interface SurveyBody {
  version: number;
  fix: { latitude: number; longitude: number; accuracy_m: number; fix_at: number };
  photos: string[];
  note: string;
}
export const survey = (id: number, body: SurveyBody) => api<Application>('POST', `${BASE}/applications/${id}/survey`, body);

export interface EnergiseBody {
  version: number;
  meter_id: string;
  protocol: string;
  address: string;
  agent_id?: string;
  transformer_area_id?: number;
}
export const energise = (id: number, body: EnergiseBody) => api<Application>('POST', `${BASE}/applications/${id}/energise`, body);

async function upload(path: string, file: Blob): Promise<Response> {
  const r = await authFetch(`/api${path}`, { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream' }, body: file });
  if (!r.ok) throw await apiError(r);
  return r;
}

/** A document (photo or PDF) of an application; the same file again is stored once. */
export async function uploadDocument(id: number, kind: string, file: Blob): Promise<Application> {
  return (await (await upload(`${BASE}/applications/${id}/documents/${kind}`, file)).json()) as Application;
}

/** A site photo, stored as the field photos are; named in the survey by its hash. */
export async function uploadSitePhoto(file: Blob): Promise<string> {
  return ((await (await upload('/field/photos', file)).json()) as { sha256: string }).sha256;
}
