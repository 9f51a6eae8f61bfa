// "You are at …": the customer at the inspector's position pops up, with a button to read the
// meter. Online it asks the nearby endpoint (its `here`); offline it measures against the
// cached book the same way: within the fix's accuracy plus a little slack.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../../i18n';
import { get, online } from '../../lib/api';
import { type Fix, position, useGeolocation } from '../../lib/geo';
import { distanceM } from '../../lib/units';
import { book, isDone } from './book';
import type { BookItem, Nearby } from './types';

const SLACK_M = 15; // as the server's field_probable_tolerance_m
const REQUERY_M = 10;
const REQUERY_MS = 20_000;

export interface Here {
  item: BookItem;
  distance_m: number;
}

/** The book's stops within reach of the fix, nearest first (the offline answer). */
export function hereFromBook(items: BookItem[], fix: Fix): Here[] {
  const out: Here[] = [];
  for (const item of items) {
    const lat = item.meter?.latitude ?? item.customer.latitude;
    const lon = item.meter?.longitude ?? item.customer.longitude;
    if (lat === null || lon === null) continue;
    const d = distanceM({ lat, lon }, fix);
    if (d <= fix.accuracy + SLACK_M) out.push({ item, distance_m: d });
  }
  return out.sort((a, b) => a.distance_m - b.distance_m);
}

/** The server's `here`, as the book's stops (a meter outside the book has nothing to do). */
export function hereFromServer(n: Nearby, items: BookItem[]): Here[] {
  if (!n.here) return [];
  return n.here.meters.flatMap((m) => {
    const item = items.find((i) => i.meter?.meter_id === m.meter_id);
    return item ? [{ item, distance_m: m.distance_m }] : [];
  });
}

async function lookUp(fix: Fix, items: BookItem[]): Promise<Here[]> {
  if (online.value) {
    try {
      const q = `lat=${fix.lat}&lon=${fix.lon}&accuracy_m=${Math.max(1, Math.round(fix.accuracy))}`;
      return hereFromServer(await get<Nearby>(`/field/nearby?${q}`), items);
    } catch {
      // fall through to the cached book
    }
  }
  return hereFromBook(items, fix);
}

export function NearbyPopup() {
  useGeolocation();
  const [found, setFound] = useState<Here[]>([]);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const last = useRef<Fix | null>(null);
  const fix = position.value;
  const items = book.value?.items;

  useEffect(() => {
    if (!fix || !items) return;
    const prev = last.current;
    if (prev && distanceM(prev, fix) < REQUERY_M && fix.at - prev.at < REQUERY_MS) return;
    last.current = fix;
    void lookUp(fix, items).then(setFound);
  }, [fix, items]);

  const next = found.find((h) => !isDone(h.item));
  if (!next || dismissed === next.item.seq) return null;
  const { item } = next;
  return (
    <section class="card popup" aria-live="polite" aria-labelledby="nearby-title" data-testid="nearby">
      <p class="muted">{t('nearby.here', { m: Math.round(next.distance_m) })}</p>
      <h2 id="nearby-title">{item.customer.name}</h2>
      <p>
        {item.customer.address} · {item.customer.number}
        {item.meter && ` · ${t('insp.meter')} ${item.meter.meter_id}`}
      </p>
      <div class="row">
        <a class="button primary" href={`/inspector/meter/${item.seq}`}>
          {t('nearby.read')}
        </a>
        <button type="button" onClick={() => setDismissed(item.seq)}>
          {t('nearby.dismiss')}
        </button>
      </div>
    </section>
  );
}
