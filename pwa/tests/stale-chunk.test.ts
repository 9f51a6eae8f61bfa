import { describe, expect, it } from 'vitest';
import { RELOADED_KEY, reloadForStaleChunk } from '../src/lib/stale-chunk';

describe('a lazy screen of an older build', () => {
  it('reloads the page once, then not again within a minute', () => {
    sessionStorage.clear();
    const reloads: number[] = [];
    const at = (now: number) => reloadForStaleChunk(sessionStorage, now, () => reloads.push(now));
    expect(at(1_000_000)).toBe(true);
    expect(sessionStorage.getItem(RELOADED_KEY)).toBe('1000000');
    expect(at(1_030_000)).toBe(false); // the chunk is missing from the current build too
    expect(at(1_060_000)).toBe(true); // a later deploy, a minute on
    expect(reloads).toEqual([1_000_000, 1_060_000]);
  });
});
