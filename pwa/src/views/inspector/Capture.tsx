// Capture one reading: value, GPS fix (accuracy shown), optional photo, then a confirm step.
// Once confirmed the reading is locked on the device and waits in the outbox; a mistake after
// that is a correction for a supervisor, never an edit.
import { useMemo, useState } from 'preact/hooks';
import { kwh, label, type Params, say, t, when } from '../../i18n';
import { me, newId, online, post } from '../../lib/api';
import { geoError, position, useGeolocation } from '../../lib/geo';
import { enqueue } from '../../lib/outbox';
import { downscale } from '../../lib/photo';
import { nudge } from '../../lib/sync';
import { parseKwh } from '../../lib/units';
import { Loading } from '../common';
import { book, captures, saveCapture } from './book';
import { LockedReading } from './Locked';
import { type BookItem, expectedRange } from './types';

const TOTAL = 'energy_import'; // 正向有功总

// What the server's checks would find on this reading (POST /api/field/readings/check): shown
// on the confirm step, before anything is locked. null: not asked (offline) or not answered.
interface Finding {
  kind?: string;
  quantity?: string;
  code: string;
  params: Params;
}
interface ReadingCheck {
  flags: Finding[];
  holds: Finding[];
}
const GOOD_ACCURACY_M = 50; // the server flags fixes worse than this (field_max_accuracy_m)

export function GpsStatus() {
  const fix = position.value;
  if (!fix && geoError.value) return <p class="error" role="status">{t(`gps.${geoError.value}`)}</p>;
  if (!fix) return <p class="warn" role="status">{t('gps.waiting')}</p>;
  const good = fix.accuracy <= GOOD_ACCURACY_M;
  return (
    <p class={good ? 'ok' : 'warn'} role="status" data-testid="gps-accuracy">
      {t('gps.accuracy', { m: Math.round(fix.accuracy) })}
      {!good && ` — ${t('gps.poor')}`}
    </p>
  );
}

function CustomerCard({ item }: { item: BookItem }) {
  const last = item.meter?.last[TOTAL];
  return (
    <div class="card">
      <h1>
        {item.seq}. {item.customer.name}
      </h1>
      <dl>
        <dt>{t('insp.customer.number')}</dt>
        <dd>{item.customer.number}</dd>
        <dt>{t('insp.address')}</dt>
        <dd>{item.customer.address}</dd>
        {item.meter && (
          <>
            <dt>{t('insp.meter')}</dt>
            <dd>{item.meter.meter_id}</dd>
          </>
        )}
        {last && (
          <>
            <dt>{t('insp.previous')}</dt>
            <dd>
              {kwh(last.value_wh)} <span class="muted">({when(last.ts)})</span>
            </dd>
          </>
        )}
      </dl>
      {item.reasons.map((r) => (
        <span key={r} class="tag">
          {label('reason', r)}
        </span>
      ))}
      {item.tasks.map((task) => (
        <p key={task.id} class="muted">
          {label('task', task.kind)}
          {task.note && `: ${task.note}`}
        </p>
      ))}
    </div>
  );
}

function Findings({ check }: { check: ReadingCheck | null | 'asking' }) {
  if (check === 'asking') return <p class="muted">{t('insp.findings.asking')}</p>;
  if (check === null) return <p class="muted">{t('insp.findings.offline')}</p>;
  if (check.flags.length === 0 && check.holds.length === 0) return <p class="ok">{t('insp.findings.clean')}</p>;
  return (
    <div class="warn" role="alert" data-testid="capture-findings">
      <p>{t('insp.findings.found')}</p>
      <ul>
        {check.flags.map((f) => (
          <li key={`f-${f.kind}-${f.code}`}>
            <strong>⚑ {label('flag', f.kind ?? '')}</strong>: {say(f.code, f.params)}
          </li>
        ))}
        {check.holds.map((h) => (
          <li key={`h-${h.quantity}`}>
            <strong>{t('insp.findings.held')}</strong>: {say(h.code, h.params)}
          </li>
        ))}
      </ul>
    </div>
  );
}

function CaptureForm({ item }: { item: BookItem }) {
  const meter = item.meter!;
  const clientId = useMemo(() => newId(), [item.seq]); // one id per capture: a double tap sends once
  const [value, setValue] = useState('');
  const [note, setNote] = useState('');
  const [photo, setPhoto] = useState<Blob | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [photoBusy, setPhotoBusy] = useState(false);
  const [reviewing, setReviewing] = useState(false);
  const [error, setError] = useState('');
  const [saving, setSaving] = useState(false);
  const [check, setCheck] = useState<ReadingCheck | null | 'asking'>(null);
  const fix = position.value;
  const wh = parseKwh(value);
  const range = expectedRange(meter.expected, Date.now());
  const outside = wh !== null && range !== null && (wh < range.low || wh > range.high);

  async function pickPhoto(e: Event) {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!file) return;
    setPhotoBusy(true);
    try {
      const small = await downscale(file);
      setPhoto(small);
      setPreview(URL.createObjectURL(small));
    } catch {
      setError(t('photo.failed'));
    } finally {
      setPhotoBusy(false);
    }
  }

  function bodyOf(total: number, at: { lat: number; lon: number; accuracy: number; at: number }) {
    return {
      client_id: clientId,
      meter_id: meter.meter_id,
      registers: { [TOTAL]: total },
      fix: { latitude: at.lat, longitude: at.lon, accuracy_m: Math.max(at.accuracy, 0.1), fix_at: at.at },
      device_at: Date.now(),
      note: note.trim(),
    };
  }

  async function ask(total: number, at: NonNullable<typeof fix>) {
    if (!online.value) return setCheck(null);
    setCheck('asking');
    try {
      setCheck(await post<ReadingCheck>('/field/readings/check', bodyOf(total, at)));
    } catch {
      setCheck(null); // the server checks again on submission; the confirm step says so
    }
  }

  function review(e: Event) {
    e.preventDefault();
    if (wh === null) return setError(t('insp.value.invalid'));
    if (!fix) return setError(t('gps.waiting'));
    setError('');
    setReviewing(true);
    void ask(wh, fix);
  }

  async function confirm() {
    if (wh === null || !fix || saving) return;
    setSaving(true);
    const photoKey = photo ? `photo-${clientId}` : undefined;
    const body = bodyOf(wh, fix);
    await enqueue(
      {
        id: clientId,
        kind: 'reading',
        method: 'POST',
        url: '/api/field/readings',
        body,
        photoKey,
        photoUrl: photo ? '/api/field/photos' : undefined,
        label: `${item.customer.name} · ${meter.meter_id} · ${kwh(wh)}`,
        user: me.value?.id,
      },
      photo ?? undefined,
    );
    await saveCapture({
      clientId,
      bookId: book.value!.id,
      meterId: meter.meter_id,
      seq: item.seq,
      registers: { [TOTAL]: wh },
      accuracy: fix.accuracy,
      at: body.device_at,
      photo: photo !== null,
    });
    nudge();
  }

  if (reviewing && wh !== null && fix) {
    return (
      <section class="card confirm" aria-labelledby="confirm-title">
        <h2 id="confirm-title">{t('insp.confirm.title')}</h2>
        <dl>
          <dt>{t('insp.meter')}</dt>
          <dd>{meter.meter_id}</dd>
          <dt>{t('insp.value')}</dt>
          <dd class="big">{kwh(wh)}</dd>
          <dt>{t('gps')}</dt>
          <dd>{t('gps.accuracy', { m: Math.round(fix.accuracy) })}</dd>
          <dt>{t('photo')}</dt>
          <dd>{photo ? t('photo.attached') : t('photo.none')}</dd>
          {note.trim() && (
            <>
              <dt>{t('insp.note')}</dt>
              <dd>{note.trim()}</dd>
            </>
          )}
        </dl>
        {outside && <p class="warn">{t('insp.value.outside', { low: kwh(range!.low), high: kwh(range!.high) })}</p>}
        <Findings check={check} />
        <p class="muted">{t('insp.confirm.lock')}</p>
        <button class="primary" type="button" onClick={confirm} disabled={saving}>
          {t('insp.confirm.button')}
        </button>
        <button type="button" class="wide" onClick={() => setReviewing(false)} disabled={saving}>
          {t('insp.confirm.back')}
        </button>
      </section>
    );
  }

  return (
    <form class="card" onSubmit={review} noValidate>
      <label>
        {t('insp.value.label')}
        <input
          name="reading"
          inputMode="decimal"
          autoComplete="off"
          required
          value={value}
          aria-describedby="value-hint"
          onInput={(e) => setValue(e.currentTarget.value)}
        />
      </label>
      <p id="value-hint" class={outside ? 'warn' : 'muted'}>
        {outside
          ? t('insp.value.outside', { low: kwh(range!.low), high: kwh(range!.high) })
          : range
            ? t('insp.value.expected', { low: kwh(range.low), high: kwh(range.high) })
            : t('insp.value.hint')}
      </p>
      <GpsStatus />
      <label>
        {t('photo.optional')}
        <input name="photo" type="file" accept="image/*" capture="environment" onChange={pickPhoto} />
      </label>
      {photoBusy && <p class="muted">{t('photo.processing')}</p>}
      {preview && photo && (
        <p>
          <img class="thumb" src={preview} alt={t('photo.preview')} />
          <span class="muted"> {t('photo.size', { kb: Math.round(photo.size / 1024) })}</span>
        </p>
      )}
      <label>
        {t('insp.note')}
        <textarea name="note" rows={2} maxLength={500} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={photoBusy || !fix}>
        {t('insp.check')}
      </button>
    </form>
  );
}

export function Capture({ seq }: { seq?: string }) {
  useGeolocation();
  const b = book.value;
  if (!b) return <Loading />;
  const item = b.items.find((i) => String(i.seq) === seq);
  if (!item) return <p class="card">{t('error.notfound')}</p>;
  const local = item.meter ? captures.value[item.meter.meter_id] : undefined;
  return (
    <>
      <p>
        <a href="/inspector">← {t('insp.back')}</a>
      </p>
      <CustomerCard item={item} />
      {item.meter === null ? (
        <p class="card">{t('insp.visit.only')}</p>
      ) : item.done || local ? (
        <LockedReading readingId={item.done?.reading_id ?? local!.clientId} local={local} />
      ) : (
        <CaptureForm key={item.seq} item={item} />
      )}
    </>
  );
}
