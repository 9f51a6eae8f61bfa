// The manager's planned visits, each checked in on site with the phone's GPS fix.
import { useState } from 'preact/hooks';
import { label, t, when } from '../../i18n';
import { position, useGeolocation } from '../../lib/geo';
import { GpsStatus } from '../inspector/Capture';
import { ErrorBox, Show, useAsync } from '../common';
import { checkIn, myVisits, type Visit } from './data';

function VisitItem({ v, done }: { v: Visit; done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const fix = position.value;
  async function go() {
    if (!fix) return;
    try {
      await checkIn(v.id, fix.lat, fix.lon, Math.round(fix.accuracy));
      setError(null);
      done();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <li class="item" data-testid={`visit-${v.id}`}>
      <strong>{v.customer_name}</strong> · {v.planned_for}
      <div>{v.purpose}</div>
      <div class="muted" data-testid="visit-status">
        {label('ka.visit', v.status)}
        {v.checked_in_at && ` · ${when(v.checked_in_at)}`}
        {v.distance_m !== null && ` · ${t('ka.visit.distance', { m: v.distance_m })}`}
      </div>
      {v.status === 'planned' && (
        <button type="button" class="primary" disabled={!fix} onClick={go}>
          {t('ka.visit.checkin')}
        </button>
      )}
      {error !== null && <ErrorBox error={error} />}
    </li>
  );
}

export function Visits() {
  useGeolocation();
  const state = useAsync(myVisits);
  return (
    <section aria-labelledby="visits-title">
      <h1 id="visits-title">{t('ka.visits')}</h1>
      <GpsStatus />
      <Show state={state}>
        {(visits) =>
          visits.length === 0 ? (
            <p class="muted">{t('ka.visits.none')}</p>
          ) : (
            <ul class="list">
              {visits.map((v) => (
                <VisitItem key={v.id} v={v} done={state.reload} />
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}
