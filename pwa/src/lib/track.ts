// Track recording (R5, R10): watchPosition while the inspector has it switched on, points
// gathered into batches, each batch an outbox item so a walk recorded offline is sent later in
// order. The batching is a pure class so it can be tested without a GPS.
import { effect, signal } from '@preact/signals';
import { me, newId } from './api';
import { acquireGeolocation, position } from './geo';
import { enqueue } from './outbox';
import { nudge } from './sync';
import { distanceM } from './units';

export interface TrackPoint {
  latitude: number;
  longitude: number;
  accuracy_m: number;
  ts: number; // epoch ms of the fix (the API's TrackPointIn)
}

export interface BatchRules {
  maxPoints: number; // a batch is cut when it holds this many points…
  maxAgeMs: number; // …or when its first point is this old
  minMoveM: number; // a fix closer than this to the last kept one is dropped…
  keepAliveMs: number; // …unless this long has passed (standing still is still a record)
}

export const DEFAULT_RULES: BatchRules = { maxPoints: 30, maxAgeMs: 60_000, minMoveM: 5, keepAliveMs: 30_000 };

export class TrackBatcher {
  private points: TrackPoint[] = [];
  private last: TrackPoint | null = null;
  accepted = 0; // fixes kept since this batcher was made

  constructor(private readonly rules: BatchRules = DEFAULT_RULES) {}

  /** Add a fix; returns a finished batch when this fix completes one. */
  push(p: TrackPoint): TrackPoint[] | null {
    const last = this.last;
    if (last) {
      if (p.ts <= last.ts) return null; // repeated or out-of-order fix
      const moved = distanceM({ lat: last.latitude, lon: last.longitude }, { lat: p.latitude, lon: p.longitude });
      if (moved < this.rules.minMoveM && p.ts - last.ts < this.rules.keepAliveMs) return null;
    }
    this.last = p;
    this.accepted += 1;
    this.points.push(p);
    const first = this.points[0];
    if (this.points.length >= this.rules.maxPoints || p.ts - first.ts >= this.rules.maxAgeMs) return this.flush();
    return null;
  }

  /** Whatever is gathered, as a batch (null when empty): on stop and when the app is hidden. */
  flush(): TrackPoint[] | null {
    if (this.points.length === 0) return null;
    const batch = this.points;
    this.points = [];
    return batch;
  }

  get size(): number {
    return this.points.length;
  }
}

export const recording = signal(false);
export const trackPoints = signal(0); // fixes kept since recording started, for the screen

let stopWatching: (() => void) | null = null;
let batcher = new TrackBatcher();

async function save(batch: TrackPoint[] | null): Promise<void> {
  if (!batch) return;
  const id = newId();
  await enqueue({
    id,
    kind: 'track',
    method: 'POST',
    url: '/api/field/tracks',
    body: { points: batch }, // idempotent by (inspector, ts) on the server
    label: `track:${batch.length}`,
    user: me.value?.id,
  });
  nudge();
}

function onHidden(): void {
  if (document.visibilityState === 'hidden') void save(batcher.flush());
}

/** Record from the shared position (lib/geo.ts): the fix known now, then every new one. */
export function startTrack(): void {
  if (stopWatching !== null || !('geolocation' in navigator)) return;
  batcher = new TrackBatcher();
  trackPoints.value = 0;
  recording.value = true;
  const release = acquireGeolocation();
  const unsubscribe = effect(() => {
    const fix = position.value;
    if (!fix) return;
    const batch = batcher.push({ latitude: fix.lat, longitude: fix.lon, accuracy_m: Math.max(fix.accuracy, 0.1), ts: fix.at });
    trackPoints.value = batcher.accepted;
    void save(batch);
  });
  stopWatching = () => {
    unsubscribe();
    release();
  };
  document.addEventListener('visibilitychange', onHidden);
}

export async function stopTrack(): Promise<void> {
  stopWatching?.();
  stopWatching = null;
  recording.value = false;
  document.removeEventListener('visibilitychange', onHidden);
  await save(batcher.flush());
}
