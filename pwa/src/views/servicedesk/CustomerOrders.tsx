// The customer's side of 95598: report a fault (or a complaint, a question…) for their account,
// follow it through its timeline, and rate it once it is closed.
import { useLocation, useRoute } from 'preact-iso';
import { useMemo, useState } from 'preact/hooks';
import { label, t, when } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import { intentKey, myOrders, order, type OrderDetail, rate, report, type ReportBody, uploadReportPhoto } from './data';
import { Deadline, Heading, OrderPhoto, Stars, Timeline } from './parts';

const REPORT_KINDS: ReportBody['kind'][] = ['fault', 'complaint', 'inquiry', 'opinion', 'appointment'];

export function MyOrders() {
  const state = useAsync(myOrders, [], 30_000);
  return (
    <section aria-labelledby="my-orders-title">
      <div class="row spread">
        <h1 id="my-orders-title">{t('cust.orders')}</h1>
        <a class="button primary" href="/customer/orders/new" data-testid="report-fault">
          {t('cust.orders.report')}
        </a>
      </div>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('cust.orders.none')}</p>
          ) : (
            <ul class="list" data-testid="my-orders">
              {items.map((o) => (
                <li key={o.id}>
                  <a href={`/customer/orders/${o.id}`}>
                    <strong>
                      {label('order.kind', o.kind)} #{o.id}
                    </strong>
                    <div>{o.description}</div>
                    <div class="muted">
                      {when(o.created_at)} · <Deadline o={o} />
                    </div>
                  </a>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

export function ReportOrder({ accountId, address }: { accountId: number; address: string }) {
  const { route } = useLocation();
  const key = useMemo(intentKey, []);
  const [kind, setKind] = useState<ReportBody['kind']>('fault');
  const [text, setText] = useState('');
  const [location, setLocation] = useState(address);
  const [photo, setPhoto] = useState<File | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    if (!text.trim()) return setError(t('cust.orders.describe'));
    setBusy(true);
    try {
      const sha = photo ? await uploadReportPhoto(photo) : undefined; // the same image twice is stored once
      const d = await report({ kind, description: text.trim(), account_id: accountId, location: location.trim(), ...(sha ? { photo_sha256: sha } : {}) }, key);
      route(`/customer/orders/${d.order.id}`);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="report-title">
      <h1 id="report-title">{t('cust.orders.report')}</h1>
      <label>
        {t('desk.kind')}
        <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as ReportBody['kind'])}>
          {REPORT_KINDS.map((k) => (
            <option key={k} value={k}>
              {label('order.kind', k)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('cust.orders.what')}
        <textarea name="description" rows={3} maxLength={2000} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <label>
        {t('desk.location')}
        <input name="location" maxLength={200} value={location} onInput={(e) => setLocation(e.currentTarget.value)} />
      </label>
      <label>
        {t('cust.orders.photo')}
        <input name="photo" type="file" accept="image/jpeg,image/png,image/webp" capture="environment" onChange={(e) => setPhoto(e.currentTarget.files?.[0] ?? null)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={busy}>
        {t('cust.orders.send')}
      </button>
    </form>
  );
}

function Rate({ d, done }: { d: OrderDetail; done: (d: OrderDetail) => void }) {
  const [sat, setSat] = useState(0);
  const [comment, setComment] = useState('');
  const [error, setError] = useState('');
  return (
    <section class="card" aria-labelledby="rate-title">
      <h2 id="rate-title">{t('cust.orders.rate')}</h2>
      <Stars value={sat} onPick={setSat} name={t('order.satisfaction')} />
      <label>
        {t('cust.orders.comment')}
        <input name="comment" maxLength={1000} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
      </label>
      <button
        type="button"
        class="primary"
        data-testid="rate"
        disabled={sat === 0}
        onClick={() =>
          rate(d.order.id, sat, comment.trim()).then(done, (err: unknown) => setError(errorText(err)))
        }
      >
        {t('cust.orders.rate.send')}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

export function MyOrder() {
  const { params } = useRoute();
  const id = Number(params.id);
  const state = useAsync(() => order(id), [id], 30_000);
  const [fresh, setFresh] = useState<OrderDetail | null>(null);
  return (
    <Show state={state}>
      {(loaded) => {
        const d = fresh ?? loaded;
        const o = d.order;
        return (
          <>
            <section class="card">
              <Heading o={o} />
              <p>{o.description}</p>
              <OrderPhoto o={o} />
              <p class="muted">
                {t('desk.owner')}: <span data-testid="owner">{o.owner ? o.owner.name : t('cust.orders.waiting')}</span>
              </p>
              {o.status === 'closed' && (
                <p data-testid="result">
                  {t('desk.result')}: {label('order.result', o.result)}
                </p>
              )}
              {o.rated_at !== null && (
                <p data-testid="rated">{t('cust.orders.rated', { stars: '★'.repeat(o.satisfaction ?? 0) })}</p>
              )}
            </section>
            {o.status === 'closed' && o.rated_at === null && <Rate d={d} done={setFresh} />}
            <Timeline d={d} />
          </>
        );
      }}
    </Show>
  );
}
