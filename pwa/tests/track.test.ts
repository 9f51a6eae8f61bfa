import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { type BatchRules, TrackBatcher, type TrackPoint } from '../src/lib/track';

const rules: BatchRules = { maxPoints: 3, maxAgeMs: 60_000, minMoveM: 5, keepAliveMs: 30_000 };
// about 11 m north per step
const at = (i: number, t = i * 1000): TrackPoint => ({ latitude: 31.23 + i * 0.0001, longitude: 121.47, accuracy_m: 5, ts: t });

describe('track batching', () => {
  it('cuts a batch when it holds maxPoints fixes', () => {
    const b = new TrackBatcher(rules);
    expect(b.push(at(0))).toBeNull();
    expect(b.push(at(1))).toBeNull();
    expect(b.push(at(2))).toEqual([at(0), at(1), at(2)]);
    expect(b.size).toBe(0);
  });

  it('cuts a batch when its first fix is maxAgeMs old', () => {
    const b = new TrackBatcher(rules);
    b.push(at(0, 0));
    expect(b.push(at(1, 60_000))).toEqual([at(0, 0), at(1, 60_000)]);
  });

  it('drops a fix that barely moved, unless keepAliveMs has passed', () => {
    const b = new TrackBatcher(rules);
    const still = (t: number): TrackPoint => ({ ...at(0), ts: t });
    b.push(still(0));
    b.push(still(10_000)); // 0 m, 10 s later: dropped
    expect(b.size).toBe(1);
    b.push(still(30_000)); // still there 30 s later: kept
    expect(b.size).toBe(2);
    expect(b.accepted).toBe(2);
  });

  it('ignores repeated and out-of-order fixes', () => {
    const b = new TrackBatcher(rules);
    b.push(at(1, 5000));
    b.push(at(2, 5000));
    b.push(at(3, 4000));
    expect(b.size).toBe(1);
  });

  it('hands over what it holds on flush, and nothing twice', () => {
    const b = new TrackBatcher(rules);
    b.push(at(0));
    b.push(at(1));
    expect(b.flush()).toEqual([at(0), at(1)]);
    expect(b.flush()).toBeNull();
  });
});
