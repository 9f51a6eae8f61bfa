// Today's route: the reading book in walking order, with progress and the track switch.
import { label, t } from '../../i18n';
import { recording, startTrack, stopTrack, trackPoints } from '../../lib/track';
import { ErrorBox, Loading, Stale } from '../common';
import { book, bookError, bookFresh, bookSavedAt, captures, isDone, loadBook, progress } from './book';
import type { BookItem } from './types';

export function Progress() {
  const { done, total } = progress.value;
  const pct = total ? Math.round((done * 100) / total) : 0;
  return (
    <div class="card">
      <div class="row spread">
        <strong>{t('insp.progress', { done, total })}</strong>
        <span class="muted">{pct}%</span>
      </div>
      <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done} aria-label={t('insp.progress.label')}>
        <span style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

export function TrackSwitch() {
  return (
    <div class="card row spread">
      <span>
        {recording.value ? t('insp.track.on', { n: trackPoints.value }) : t('insp.track.off')}
      </span>
      <button type="button" aria-pressed={recording.value} onClick={() => (recording.value ? void stopTrack() : startTrack())}>
        {recording.value ? t('insp.track.stop') : t('insp.track.start')}
      </button>
    </div>
  );
}

function Stop({ item }: { item: BookItem }) {
  const done = isDone(item);
  const local = item.meter ? captures.value[item.meter.meter_id] : undefined;
  return (
    <li class={done ? 'done' : undefined}>
      <a href={`/inspector/meter/${item.seq}`}>
        <div class="row spread">
          <strong>
            {item.seq}. {item.customer.name}
          </strong>
          <span class={done ? 'ok' : 'muted'}>{done ? `🔒 ${t('insp.locked')}` : item.kind === 'visit' ? t('insp.visit') : t('insp.todo')}</span>
        </div>
        <div class="muted">
          {item.customer.address} · {item.customer.number}
          {item.meter && ` · ${t('insp.meter')} ${item.meter.meter_id}`}
        </div>
        {local && !item.done && <div class="warn">{t('insp.captured.waiting')}</div>}
        {item.reasons.length > 0 && (
          <div>
            {item.reasons.map((r) => (
              <span key={r} class="tag">
                {label('reason', r)}
              </span>
            ))}
          </div>
        )}
      </a>
    </li>
  );
}

export function RouteList() {
  const b = book.value;
  if (!b && bookError.value) return <ErrorBox error={bookError.value} retry={() => void loadBook()} />;
  if (!b) return <Loading />;
  return (
    <section aria-labelledby="route-title">
      <h1 id="route-title">{t('insp.route.title', { cycle: b.cycle })}</h1>
      {!bookFresh.value && bookSavedAt.value && <Stale savedAt={bookSavedAt.value} />}
      <Progress />
      <TrackSwitch />
      {b.items.length === 0 ? (
        <p class="card">{t('insp.route.empty')}</p>
      ) : (
        <ol class="list" aria-label={t('insp.route.list')}>
          {b.items.map((item) => (
            <Stop key={item.seq} item={item} />
          ))}
        </ol>
      )}
    </section>
  );
}
