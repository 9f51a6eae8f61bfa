// A repair job reported from the site (R50–R51): who, what, where, until when. Goes through the
// outbox like a reading, so it is accepted with no signal and sent later.
import { useLocation } from 'preact-iso';
import { useMemo, useState } from 'preact/hooks';
import { t } from '../../i18n';
import { me, newId } from '../../lib/api';
import { position, useGeolocation } from '../../lib/geo';
import { enqueue } from '../../lib/outbox';
import { nudge } from '../../lib/sync';
import { GpsStatus } from './Capture';

export const REPAIR_URL = '/api/servicedesk/repair-jobs';

export function Repair() {
  useGeolocation();
  // a crew sent to a fault work order reports its arrival here (/inspector/repair?order=ID)
  const orderId = Number(useLocation().query.order) || null;
  const [round, setRound] = useState(0);
  const clientId = useMemo(() => newId(), [round]);
  const [content, setContent] = useState('');
  const [workers, setWorkers] = useState(me.value?.display_name ?? '');
  const [area, setArea] = useState('');
  const [hours, setHours] = useState('2');
  const [error, setError] = useState('');
  const [saved, setSaved] = useState(false);
  const fix = position.value;

  async function submit(e: Event) {
    e.preventDefault();
    const names = workers.split(/[,，、;；]+/).map((w) => w.trim()).filter(Boolean);
    if (!content.trim() || !area.trim() || names.length === 0) return setError(t('repair.missing'));
    if (!fix) return setError(t('gps.waiting'));
    const now = Date.now();
    await enqueue({
      id: clientId,
      kind: 'repair',
      method: 'POST',
      url: REPAIR_URL,
      body: {
        client_id: clientId,
        workers: names,
        content: content.trim(),
        area: area.trim(),
        started_at: now,
        expected_finish_at: now + Number(hours) * 3_600_000,
        fix: { latitude: fix.lat, longitude: fix.lon, accuracy_m: Math.max(fix.accuracy, 0.1), fix_at: fix.at },
        ...(orderId ? { work_order_id: orderId } : {}),
      },
      label: content.trim().slice(0, 60),
      user: me.value?.id,
    });
    nudge();
    setSaved(true);
    setError('');
  }

  if (saved) {
    return (
      <section class="card" role="status">
        <h1>{t('repair.saved')}</h1>
        <p>{t('repair.saved.help')}</p>
        <button
          type="button"
          onClick={() => {
            setSaved(false);
            setContent('');
            setRound(round + 1);
          }}
        >
          {t('repair.another')}
        </button>
      </section>
    );
  }

  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="repair-title">
      <h1 id="repair-title">{t('repair.title')}</h1>
      {orderId && <p data-testid="repair-order">{t('repair.for_order', { order: orderId })}</p>}
      <label>
        {t('repair.content')}
        <textarea name="content" rows={3} maxLength={2000} required value={content} onInput={(e) => setContent(e.currentTarget.value)} />
      </label>
      <label>
        {t('repair.area')}
        <input name="area" maxLength={200} required value={area} onInput={(e) => setArea(e.currentTarget.value)} />
      </label>
      <label>
        {t('repair.workers')}
        <input name="workers" required value={workers} onInput={(e) => setWorkers(e.currentTarget.value)} />
      </label>
      <label>
        {t('repair.hours')}
        <select name="hours" value={hours} onChange={(e) => setHours(e.currentTarget.value)}>
          {['1', '2', '4', '8', '24'].map((h) => (
            <option key={h} value={h}>
              {t('repair.hours.n', { n: h })}
            </option>
          ))}
        </select>
      </label>
      <GpsStatus />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit">
        {t('repair.submit')}
      </button>
    </form>
  );
}
