// The 95598 desk: the queue ordered by deadline, intake with customer search, an order's
// detail with its timeline and the decisions (take, dispatch, node done, transfer, close,
// return visit), and the supervisors' indicators.
import { useLocation, useRoute } from 'preact-iso';
import { useMemo, useState } from 'preact/hooks';
import { label, t, when } from '../../i18n';
import { me } from '../../lib/api';
import { errorText, Show, useAsync } from '../common';
import {
  act,
  CHANNELS,
  type CustomerHit,
  downloadCsv,
  indicators,
  intake,
  intentKey,
  KINDS,
  type Kind,
  order,
  type OrderChannel,
  type OrderDetail,
  queue,
  type QueueFilter,
  returnVisit,
  searchCustomers,
  type SearchBy,
  staff,
} from './data';
import { AnswerBox, FollowUps } from './Answers';
import { Deadline, Heading, OrderPhoto, Stars, Timeline } from './parts';

const FILTERS: QueueFilter[] = ['open', 'mine', 'overdue', 'escalated', 'closed'];

export function Queue({ initial = 'open' }: { initial?: QueueFilter }) {
  const [filter, setFilter] = useState<QueueFilter>(initial);
  const state = useAsync(() => queue(filter), [filter], 30_000);
  return (
    <section aria-labelledby="queue-title">
      <div class="row spread">
        <h1 id="queue-title">{t('desk.queue')}</h1>
        <a class="button" href="/operator/orders/new" data-testid="new-order">
          {t('desk.new')}
        </a>
      </div>
      <div class="row" role="group" aria-label={t('desk.filter')}>
        {FILTERS.map((f) => (
          <button key={f} type="button" aria-pressed={filter === f} onClick={() => setFilter(f)}>
            {t(`desk.filter.${f}`)}
          </button>
        ))}
      </div>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('desk.empty')}</p>
          ) : (
            <ul class="list" data-testid="queue">
              {items.map((o) => (
                <li key={o.id}>
                  <a href={`/operator/orders/${o.id}`}>
                    <strong>
                      {label('order.kind', o.kind)} #{o.id} · {o.customer_name || o.contact_name || t('desk.anonymous')}
                    </strong>
                    <div>{o.description}</div>
                    <div class="muted">
                      <Deadline o={o} /> · {o.owner ? o.owner.name : t('desk.unowned')}
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

export function Overdue() {
  return (
    <>
      <Queue initial="overdue" />
      <p>
        <a href="/operator/indicators">{t('desk.indicators')}</a>
      </p>
    </>
  );
}

export function Intake() {
  const { route } = useLocation();
  const key = useMemo(intentKey, []); // one intent, one order: a double tap sends the same key
  const [q, setQ] = useState('');
  const [by, setBy] = useState<SearchBy>('any');
  const [hits, setHits] = useState<CustomerHit[] | null>(null);
  const [who, setWho] = useState<CustomerHit | null>(null);
  const [kind, setKind] = useState<Kind>('fault');
  const [channel, setChannel] = useState<OrderChannel>('phone');
  const [text, setText] = useState('');
  const [location, setLocation] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function search(e: Event) {
    e.preventDefault();
    if (!q.trim()) return;
    try {
      setHits(await searchCustomers(q.trim(), by));
    } catch (err) {
      setError(errorText(err));
    }
  }

  async function submit(e: Event) {
    e.preventDefault();
    if (!text.trim()) return setError(t('desk.describe'));
    setBusy(true);
    try {
      const d = await intake(
        {
          kind,
          channel,
          description: text.trim(),
          ...(who ? { customer_id: who.id, account_id: who.accounts[0]?.id } : {}),
          ...(location.trim() ? { location: location.trim() } : {}),
        },
        key,
      );
      route(`/operator/orders/${d.order.id}`);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  return (
    <section class="card" aria-labelledby="intake-title">
      <h1 id="intake-title">{t('desk.new')}</h1>
      <form onSubmit={search} class="row">
        <label>
          {t('desk.search')}
          <input
            name="q"
            value={q}
            maxLength={64}
            onInput={(e) => setQ(e.currentTarget.value)}
            placeholder={t(by === 'address' ? 'desk.search.hint.address' : 'desk.search.hint')}
          />
        </label>
        <label>
          {t('desk.search.by')}
          <select name="by" value={by} onChange={(e) => setBy(e.currentTarget.value as SearchBy)}>
            <option value="any">{t('desk.search.by.any')}</option>
            <option value="address">{t('desk.search.by.address')}</option>
          </select>
        </label>
        <button type="submit">{t('desk.search.go')}</button>
      </form>
      {hits && hits.length === 0 && <p class="muted">{t('desk.search.none')}</p>}
      {hits && hits.length > 0 && (
        <ul class="list" data-testid="hits">
          {hits.map((c) => (
            <li key={c.id}>
              <button type="button" aria-pressed={who?.id === c.id} onClick={() => setWho(c)}>
                {c.name} · {c.number} · {c.phone} · {c.address}
                {c.open_orders > 0 && ` · ${t('desk.open_orders', { n: c.open_orders })}`}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={submit} noValidate>
        <label>
          {t('desk.kind')}
          <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {label('order.kind', k)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('desk.channel')}
          <select name="channel" value={channel} onChange={(e) => setChannel(e.currentTarget.value as OrderChannel)}>
            {CHANNELS.map((c) => (
              <option key={c} value={c}>
                {label('order.channel', c)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('desk.description')}
          <textarea name="description" rows={3} maxLength={2000} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <label>
          {t('desk.location')}
          <input name="location" maxLength={200} value={location} onInput={(e) => setLocation(e.currentTarget.value)} placeholder={who?.address ?? ''} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {t('desk.take')}
        </button>
      </form>
      <AnswerBox kind={kind} />
    </section>
  );
}

function Decisions({ d, done }: { d: OrderDetail; done: (d: OrderDetail) => void }) {
  const o = d.order;
  const [error, setError] = useState('');
  const [result, setResult] = useState('');
  const [to, setTo] = useState('');
  const [reason, setReason] = useState('');
  const [crew, setCrew] = useState('');
  const [sat, setSat] = useState(0);
  const people = useAsync(() => staff(), []);
  const mine = o.owner?.id === me.value?.id;
  const run = (p: Promise<OrderDetail>) =>
    p.then(
      (next) => {
        setError('');
        done(next);
      },
      (err: unknown) => setError(errorText(err)),
    );

  if (o.status === 'closed') {
    if (o.return_visit_at !== null) return null;
    return (
      <section class="card" aria-labelledby="visit-title">
        <h2 id="visit-title">{t('desk.return_visit')}</h2>
        <Stars value={sat} onPick={setSat} name={t('order.satisfaction')} />
        <button type="button" class="primary" disabled={sat === 0} onClick={() => run(returnVisit(o.id, sat, ''))}>
          {t('desk.return_visit.save')}
        </button>
        {error && <p class="error" role="alert">{error}</p>}
      </section>
    );
  }
  return (
    <section class="card" aria-labelledby="act-title">
      <h2 id="act-title">{t('desk.decide')}</h2>
      {o.owner === null && (
        <button type="button" class="primary" data-testid="take" onClick={() => run(act(o.id, 'take', { version: o.version }))}>
          {t('desk.take_it')}
        </button>
      )}
      {o.node === 'dispatch' && o.outage_id === null && (
        <div class="row">
          <label>
            {t('desk.crew')}
            <select name="crew" value={crew} onChange={(e) => setCrew(e.currentTarget.value)}>
              <option value="">—</option>
              {(people.data ?? [])
                .filter((p) => p.role === 'inspector')
                .map((p) => (
                  <option key={p.id} value={String(p.id)}>
                    {p.name}
                  </option>
                ))}
            </select>
          </label>
          <button type="button" data-testid="dispatch" disabled={!crew} onClick={() => run(act(o.id, 'dispatch', { version: o.version, crew_id: Number(crew) }))}>
            {t('desk.dispatch')}
          </button>
        </div>
      )}
      {!['dispatch', 'arrive', 'repair', 'close'].includes(o.node) && (
        <button type="button" onClick={() => run(act(o.id, 'advance', { version: o.version }))}>
          {t('desk.node_done', { node: label('order.node', o.node) })}
        </button>
      )}
      {(mine || me.value?.role === 'supervisor') && (
        <>
          <label>
            {t('desk.result')}
            <textarea name="result" rows={2} maxLength={2000} value={result} onInput={(e) => setResult(e.currentTarget.value)} />
          </label>
          <button type="button" class="primary" data-testid="close" disabled={!result.trim()} onClick={() => run(act(o.id, 'close', { version: o.version, result: result.trim() }))}>
            {t('desk.close')}
          </button>
          <div class="row">
            <label>
              {t('desk.transfer_to')}
              <select name="to" value={to} onChange={(e) => setTo(e.currentTarget.value)}>
                <option value="">—</option>
                {(people.data ?? [])
                  .filter((p) => p.id !== o.owner?.id && p.role !== 'inspector')
                  .map((p) => (
                    <option key={p.id} value={String(p.id)}>
                      {p.name}
                    </option>
                  ))}
              </select>
            </label>
            <label>
              {t('desk.transfer_reason')}
              <input name="reason" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </label>
            <button
              type="button"
              disabled={!to || !reason.trim()}
              onClick={() => run(act(o.id, 'transfer', { version: o.version, to_user_id: Number(to), reason: reason.trim() }))}
            >
              {t('desk.transfer')}
            </button>
          </div>
        </>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

export function OrderView() {
  const { params } = useRoute();
  const id = Number(params.id);
  const state = useAsync(() => order(id), [id]);
  const [fresh, setFresh] = useState<OrderDetail | null>(null);
  return (
    <Show state={state}>
      {(loaded) => {
        const d = fresh && fresh.order.id === id ? fresh : loaded;
        const o = d.order;
        return (
          <>
            <section class="card">
              <Heading o={o} />
              <p>{o.description}</p>
              <OrderPhoto o={o} />
              <dl>
                <dt>{t('desk.customer')}</dt>
                <dd>
                  {o.customer_name || o.contact_name || t('desk.anonymous')} {o.contact_phone}
                </dd>
                <dt>{t('desk.location')}</dt>
                <dd>{o.location || '—'}</dd>
                <dt>{t('desk.owner')}</dt>
                <dd data-testid="owner">{o.owner ? o.owner.name : t('desk.unowned')}</dd>
                <dt>{t('desk.channel')}</dt>
                <dd>{label('order.channel', o.channel)}</dd>
                {o.crew && (
                  <>
                    <dt>{t('desk.crew')}</dt>
                    <dd>{o.crew.name}</dd>
                  </>
                )}
                {o.outage_id !== null && (
                  <>
                    <dt>{t('desk.outage')}</dt>
                    <dd>{t('desk.outage.linked', { outage: o.outage_id })}</dd>
                  </>
                )}
                {o.status === 'closed' && (
                  <>
                    <dt>{t('desk.result')}</dt>
                    <dd data-testid="result">{label('order.result', o.result)}</dd>
                    <dt>{t('order.satisfaction')}</dt>
                    <dd data-testid="satisfaction">{o.satisfaction === null ? '—' : '★'.repeat(o.satisfaction)}</dd>
                  </>
                )}
              </dl>
            </section>
            <Decisions d={d} done={setFresh} />
            {o.status === 'open' && <FollowUps orderId={o.id} reload={() => void order(o.id).then(setFresh)} />}
            {o.status === 'open' && <AnswerBox kind={o.kind} />}
            <Timeline d={d} />
          </>
        );
      }}
    </Show>
  );
}

function isoDay(offsetDays: number): string {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const pct = (v: number | null) => (v === null ? '—' : `${Math.round(v * 1000) / 10}%`);

export function IndicatorsView() {
  const [from, setFrom] = useState(isoDay(-29));
  const [to, setTo] = useState(isoDay(0));
  const [group, setGroup] = useState('all');
  const state = useAsync(() => indicators(from, to, group), [from, to, group]);
  const [error, setError] = useState('');
  return (
    <section aria-labelledby="ind-title">
      <h1 id="ind-title">{t('desk.indicators')}</h1>
      <div class="row">
        <label>
          {t('desk.from')}
          <input type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          {t('desk.to')}
          <input type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <label>
          {t('desk.group')}
          <select value={group} onChange={(e) => setGroup(e.currentTarget.value)}>
            {['all', 'day', 'person', 'team'].map((g) => (
              <option key={g} value={g}>
                {t(`desk.group.${g}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => downloadCsv(from, to, group).catch((e: unknown) => setError(errorText(e)))}>
          {t('desk.csv')}
        </button>
      </div>
      {error && <p class="error">{error}</p>}
      <Show state={state}>
        {(ind) => (
          <>
            <div class="table-scroll">
              <table data-testid="indicators">
                <thead>
                  <tr>
                    {['group', 'orders', 'closed', 'on_time', 'fcr', 'satisfaction', 'complaints'].map((c) => (
                      <th key={c} scope="col">
                        {t(`desk.col.${c}`)}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {ind.rows.map((r) => (
                    <tr key={r.group}>
                      <td>{group === 'team' ? label('role', r.group) : r.group === 'all' ? t('desk.group.all') : r.group === 'system' ? t('order.by_workflow') : r.group}</td>
                      <td class="num">{r.orders}</td>
                      <td class="num">{r.closed}</td>
                      <td class="num">{pct(r.on_time_rate)}</td>
                      <td class="num">{pct(r.first_contact_rate)}</td>
                      <td class="num">{r.satisfaction_avg ?? '—'}</td>
                      <td class="num">{r.complaints_per_10k ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <h2>{t('desk.lead_times')}</h2>
            <ul class="list">
              {ind.lead_times.map((l) => (
                <li key={`${l.kind}.${l.node}`}>
                  <div class="item">
                    {label('order.kind', l.kind)} · {label('order.node', l.node)}:{' '}
                    {t('desk.lead', { avg: l.avg_minutes, max: l.max_minutes, n: l.count, on_time: pct(l.on_time_rate) })}
                  </div>
                </li>
              ))}
            </ul>
            <p class="muted">{t('desk.customers', { n: ind.customers, when: when(Date.now()) })}</p>
          </>
        )}
      </Show>
    </section>
  );
}
