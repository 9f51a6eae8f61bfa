// "You are at …": the customer at the inspector's position pops up, with a button to read the
// meter. Online it asks the nearby endpoint; offline it measures against the cached book.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../../i18n';
import { get, online } from '../../lib/api';
import { type Fix, position, useGeolocation } from '../../lib/geo';
import { distanceM } from '../../lib/units';
import { book, isDone } from './book';
import type { BookItem, Nearby } from './types';

const SLACK_M = 15; // over the fix's accuracy, as the server's field_probable_tolerance_m
const REQUERY_M = 10;
const REQUERY_MS = 20_000;

/** The book's stops within reach of the fix, nearest first (the offline answer). */
export function nearbyFromBook(items: BookItem[], fix: Fix): Nearby[] {
  const out: Nearby[] = [];
  for (const item of items) {
    const lat = item.meter?.latitude ?? item.customer.latitude;
    const lon = item.meter?.longitude ?? item.customer.longitude;
    if (lat === null || lon === null) continue;
    const d = distanceM({ lat, lon }, fix);
    if (d > fix.accuracy + SLACK_M) continue;
    out.push({
      customer_number: item.customer.number,
      name: item.customer.name,
      address: item.customer.address,
      meter_id: item.meter?.meter_id ?? null,
      distance_m: d,
      probable: true,
    });
  }
  return out.sort((a, b) => a.distance_m - b.distance_m);
}

async function lookUp(fix: Fix): Promise<Nearby[]> {
  if (online.value) {
    try {
      const q = `latitude=${fix.lat}&longitude=${fix.lon}&accuracy_m=${Math.round(fix.accuracy)}`;
      return await get<Nearby[]>(`/field/nearby?${q}`);
    } catch {
      // fall through to the cached book
    }
  }
  return nearbyFromBook(book.value?.items ?? [], fix);
}

export function NearbyPopup() {
  useGeolocation();
  const [found, setFound] = useState<Nearby | null>(null);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const last = useRef<Fix | null>(null);
  const fix = position.value;

  useEffect(() => {
    if (!fix) return;
    const prev = last.current;
    if (prev && distanceM(prev, fix) < REQUERY_M && fix.at - prev.at < REQUERY_MS) return;
    last.current = fix;
    void lookUp(fix).then((all) => setFound(all.find((n) => n.probable) ?? null));
  }, [fix]);

  const item = found && book.value?.items.find((i) => i.customer.number === found.customer_number);
  if (!found || dismissed === found.customer_number || (item && isDone(item))) return null;
  return (
    <section class="card popup" aria-live="polite" aria-labelledby="nearby-title" data-testid="nearby">
      <p class="muted">{t('nearby.here', { m: Math.round(found.distance_m) })}</p>
      <h2 id="nearby-title">{found.name}</h2>
      <p>
        {found.address} · {found.customer_number}
        {found.meter_id && ` · ${t('insp.meter')} ${found.meter_id}`}
      </p>
      <div class="row">
        {item && (
          <a class="button primary" href={`/inspector/meter/${item.seq}`}>
            {t('nearby.read')}
          </a>
        )}
        <button type="button" onClick={() => setDismissed(found.customer_number)}>
          {t('nearby.dismiss')}
        </button>
      </div>
    </section>
  );
}
