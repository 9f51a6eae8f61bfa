import { describe, expect, it } from 'vitest';
import { fitWithin } from '../src/lib/photo';
import { distanceM, parseKwh, parseYuan } from '../src/lib/units';
import { expectedRange } from '../src/views/inspector/types';

describe('parsing what people type', () => {
  it('turns a kWh register into exact integer Wh', () => {
    expect(parseKwh('12345.67')).toBe(12345670);
    expect(parseKwh('0.29')).toBe(290); // 0.29 * 1000 would be 290.00000000000006
    expect(parseKwh(' 42 ')).toBe(42000);
    expect(parseKwh('7,5')).toBe(7500); // a comma decimal from some keyboards
    expect(parseKwh('1.234')).toBe(1234);
  });

  it('refuses what is not a register value', () => {
    for (const bad of ['', 'abc', '-1', '1.2345', '1e5', '12.34.5', '１２']) expect([bad, parseKwh(bad)]).toEqual([bad, null]);
  });

  it('turns yuan into exact integer fen', () => {
    expect(parseYuan('100')).toBe(10000);
    expect(parseYuan('0.29')).toBe(29);
    expect(parseYuan('19.9')).toBe(1990);
    expect(parseYuan('1.005')).toBeNull();
  });
});

describe('geometry', () => {
  it('measures a short distance in metres', () => {
    // 0.001° of latitude is about 111 m everywhere
    expect(distanceM({ lat: 31.23, lon: 121.47 }, { lat: 31.231, lon: 121.47 })).toBeCloseTo(111.2, 0);
    expect(distanceM({ lat: 31.23, lon: 121.47 }, { lat: 31.23, lon: 121.47 })).toBe(0);
  });

  it('fits a photo within the long side, keeping its shape and never enlarging', () => {
    expect(fitWithin(4000, 3000, 1600)).toEqual({ width: 1600, height: 1200 });
    expect(fitWithin(3000, 4000, 1600)).toEqual({ width: 1200, height: 1600 });
    expect(fitWithin(800, 600, 1600)).toEqual({ width: 800, height: 600 });
  });
});

describe('the expected range of a reading', () => {
  const e = { previous_wh: 1_000_000, previous_ts: 0, low_wh_per_day: 1000, high_wh_per_day: 30_000 };

  it('grows with the days since the previous reading', () => {
    expect(expectedRange(e, 10 * 86_400_000)).toEqual({ low: 1_010_000, high: 1_300_000 });
  });

  it('allows at least one day of high use on the same day', () => {
    expect(expectedRange(e, 3_600_000)).toEqual({ low: 1_000_041, high: 1_030_000 });
  });

  it('is unknown without history', () => {
    expect(expectedRange(null, 0)).toBeNull();
  });
});

describe('the offline "you are here"', async () => {
  const { hereFromBook } = await import('../src/views/inspector/Nearby');
  const stop = (seq: number, lat: number | null, lon: number | null) =>
    ({
      seq,
      kind: 'reading',
      reasons: [],
      tasks: [],
      done: null,
      customer: { id: seq, number: `C${seq}`, name: `n${seq}`, address: '', phone: '', category: 'residential', key_account_class: null, latitude: lat, longitude: lon },
      meter: { meter_id: `M${seq}`, serial: '', latitude: lat, longitude: lon, last: {}, expected: null },
    }) as import('../src/views/inspector/types').BookItem;

  it('finds the stops within the accuracy plus 15 m, nearest first', () => {
    const items = [stop(1, 30.0003, 120), stop(2, 30.0001, 120), stop(3, 30.01, 120), stop(4, null, null)];
    const here = hereFromBook(items, { lat: 30, lon: 120, accuracy: 25, at: 0 });
    // 0.0001° ≈ 11 m, 0.0003° ≈ 33 m (inside 25 + 15), 0.01° ≈ 1.1 km
    expect(here.map((h) => h.item.seq)).toEqual([2, 1]);
  });

  it('finds nothing when the fix is too poor to say', () => {
    expect(hereFromBook([stop(1, 30.001, 120)], { lat: 30, lon: 120, accuracy: 50, at: 0 })).toEqual([]);
  });
});
