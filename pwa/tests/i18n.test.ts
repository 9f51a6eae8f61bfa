import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { en } from '../src/i18n/en';
import { kwh, label, say, setLang, t, yuan } from '../src/i18n';
import { zh } from '../src/i18n/zh';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : /\.tsx?$/.test(name) ? [path] : [];
  });
}

const code = sources(join(__dirname, '../src')).map((f) => readFileSync(f, 'utf8'));
const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('the catalogs', () => {
  afterEach(() => setLang('en'));

  it('have the same keys in Chinese and English', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  });

  it('use the same placeholders in both languages', () => {
    for (const key of Object.keys(en)) expect([key, placeholders(zh[key])]).toEqual([key, placeholders(en[key])]);
  });

  it('hold every key the code asks for with t()', () => {
    const used = new Set(code.flatMap((c) => [...c.matchAll(/\bt\('([^']+)'/g)].map((m) => m[1])));
    expect(used.size).toBeGreaterThan(100);
    expect([...used].filter((k) => !(k in en) || !(k in zh))).toEqual([]);
  });

  it('hold every value of the families the code builds keys for', () => {
    const families: Record<string, string[]> = {
      'outbox.kind': ['reading', 'track', 'repair'],
      supply: ['connected', 'disconnected', 'ready_to_reconnect', 'unknown'],
      action: ['none', 'top_up', 'press_button', 'wait', 'contact_service'],
      entry: ['top_up', 'consumption_charge', 'adjustment', 'refund', 'reversal'],
      notice: ['low_balance', 'disconnect_warning', 'disconnected', 'restored'],
      rule: ['arrears', 'protected', 'supply', 'warning', 'working_day', 'holiday_eve', 'hours'],
      gps: ['denied', 'unavailable'],
      kind: ['disconnect', 'reconnect', 'arm_reconnect', 'read_now', 'time_sync'],
      flag: ['value_below_previous', 'consumption_out_of_range', 'far_from_meter', 'poor_accuracy', 'impossible_speed', 'repeated_coordinates', 'late_submission', 'ami_disagreement', 'clock_skew'],
      cmd: ['awaiting_approval', 'queued', 'dispatched', 'received', 'executed', 'verified', 'failed', 'expired', 'refused', 'rejected', 'cancelled'],
    };
    const keys = Object.entries(families).flatMap(([family, values]) => values.map((v) => `${family}.${v}`));
    expect(keys.filter((k) => !(k in en) || !(k in zh))).toEqual([]);
  });

  it('translate with parameters in the chosen language', () => {
    setLang('zh-CN');
    expect(t('outbox.waiting', { n: 2 })).toBe('2 条等待发送');
    setLang('en');
    expect(t('outbox.waiting', { n: 2 })).toBe('2 waiting to be sent');
  });

  it('show a server value that has no translation as itself', () => {
    expect(label('flag', 'far_from_meter')).toBe('Far from the meter');
    expect(label('flag', 'something_new')).toBe('something_new');
  });
});

describe('texts from the server (a code and its parameters)', () => {
  afterEach(() => setLang('en'));

  it('are worded in the chosen language, money, energy and states formatted', () => {
    const params = { balance_fen: -1500, threshold_fen: 0 };
    setLang('zh-CN');
    expect(say('policy.arrears_below', params)).toBe('余额 -¥15.00 低于停电阈值 ¥0.00');
    expect(say('memo.consumption', { meter: 1, energy_wh: 390 })).toBe('电表 1：0.39 kWh');
    expect(say('memo.consumption_round', { intervals: 4, energy_wh: 1200 })).toBe('用电 1.20 kWh（4 个计量区间）');
    expect(say('error.command_state', { state: 'dispatched', event: 'cancel' })).toBe('指令处于“已下发”状态，不能这样更改。');
    setLang('en');
    expect(say('policy.arrears_below', params)).toBe('Balance -¥15.00 is below the disconnect threshold ¥0.00');
    expect(say('memo.consumption_round', { intervals: 4, energy_wh: 1200 })).toBe('Consumption 1.20 kWh over 4 metered intervals');
  });

  it('fall back to a generic phrase and the code when the code is unknown, never to English', () => {
    setLang('zh-CN');
    expect(say('policy.something_new', { x: 1 })).toBe('服务器消息（policy.something_new）');
    expect(say(null)).toBe('服务器消息（?）');
  });
});

describe('money and energy formatting', () => {
  afterEach(() => setLang('en'));

  it('formats integer fen as yuan with exactly two decimals', () => {
    expect(yuan(0)).toBe('¥0.00');
    expect(yuan(5)).toBe('¥0.05');
    expect(yuan(12345)).toBe('¥123.45');
    expect(yuan(123456789)).toBe('¥1,234,567.89');
  });

  it('puts the sign of a debt before the currency', () => {
    expect(yuan(-1230)).toBe('-¥12.30');
    expect(yuan(-7)).toBe('-¥0.07');
  });

  it('formats integer Wh as kWh without float noise', () => {
    expect(kwh(0)).toBe('0.00 kWh');
    expect(kwh(12345670)).toBe('12,345.67 kWh');
    expect(kwh(290)).toBe('0.29 kWh');
    expect(kwh(1500, 0)).toBe('2 kWh');
  });

  it('formats in Chinese the same digits', () => {
    setLang('zh-CN');
    expect(yuan(123456)).toBe('¥1,234.56');
    expect(kwh(12345670)).toBe('12,345.67 kWh');
  });
});
