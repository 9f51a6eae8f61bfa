// Two languages: zh-CN (the default for Chinese browsers) and English, switchable in the header.
// Catalogs are plain objects; a missing key falls back to English, then to the key itself.
import { computed, signal } from '@preact/signals';
import { en } from './en';
import { zh } from './zh';

export type Lang = 'zh-CN' | 'en';
const catalogs: Record<Lang, Record<string, string>> = { 'zh-CN': zh, en };

function initialLang(): Lang {
  const saved = localStorage.getItem('lang');
  if (saved === 'zh-CN' || saved === 'en') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export const lang = signal<Lang>(initialLang());
export const locale = computed(() => (lang.value === 'zh-CN' ? 'zh-CN' : 'en-GB'));

export function setLang(next: Lang): void {
  lang.value = next;
  localStorage.setItem('lang', next);
  document.documentElement.lang = next;
}

export function t(key: string, params?: Record<string, string | number>): string {
  let text = catalogs[lang.value][key] ?? en[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

/** A label for a value from the server (a flag kind, a reason, a state): its translation when
 * the catalog has `prefix.value`, else the value itself, so a new server value still shows. */
export function label(prefix: string, value: string): string {
  const key = `${prefix}.${value}`;
  return catalogs[lang.value][key] ?? en[key] ?? value;
}

/** A parameter of a server text as people read it: by its name's ending (backend/texts.py):
 * `…_fen` money, `…_wh` energy, `…_at` a UTC instant (epoch ms or ISO); a command's `state`
 * and `kind`, a payment `channel` and a relay state by their labels; anything else as it is. */
const LABELLED: Record<string, string> = { state: 'cmd', kind: 'kind', channel: 'channel', readback: 'relay', expected: 'relay', node: 'order.node', next: 'order.node', result: 'order.result' };

function shown(name: string, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && name.endsWith('_fen')) return yuan(value);
  if (typeof value === 'number' && name.endsWith('_wh')) return kwh(value);
  if ((typeof value === 'number' || typeof value === 'string') && name.endsWith('_at')) return when(value);
  if (name in LABELLED) return label(LABELLED[name], String(value));
  return String(value); // ids, counts, names: as they are
}

export type Params = Record<string, string | number | boolean | null>;

/** A text from the server (a code and its parameters) in the current language. A code this app
 * does not know yet reads as a generic phrase with the code, never as the server's English. */
export function say(code: string | null | undefined, params: Params = {}): string {
  const template = code ? (catalogs[lang.value][code] ?? en[code]) : undefined;
  if (template === undefined) return t('text.unknown', { code: code ?? '?' });
  return template.replace(/\{(\w+)\}/g, (_, name: string) => shown(name, params[name]));
}

/** Money: integer fen → "¥12.34" in the current locale. Never a float in storage. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}¥${Math.floor(abs / 100).toLocaleString(locale.value)}.${String(abs % 100).padStart(2, '0')}`;
}

/** Energy: integer Wh → "12.34 kWh". */
export function kwh(wh: number, digits = 2): string {
  return `${(wh / 1000).toLocaleString(locale.value, { minimumFractionDigits: digits, maximumFractionDigits: digits })} kWh`;
}

/** UTC ISO time or epoch ms → local date and time for display. */
export function when(value: string | number): string {
  return new Date(value).toLocaleString(locale.value, { dateStyle: 'short', timeStyle: 'short' });
}

export function day(value: string | number): string {
  return new Date(value).toLocaleDateString(locale.value, { month: 'short', day: 'numeric' });
}
