// The customer 360 for staff: profile, segment, accounts, meters, trend, alerts, visits, notes.
import { useRoute } from 'preact-iso';
import { useState } from 'preact/hooks';
import { day, kwh, label, t, when, yuan } from '../../i18n';
import { ErrorBox, Show, useAsync } from '../common';
import { me } from '../../lib/api';
import { addNote, addTag, type C360, customer360, customerTags, planVisit, removeTag } from './data';
import { ProfileForm } from './ProfileForm';
import { Alerts, classes, tagText } from './Portfolio';

function TagPanel({ c, done }: { c: C360; done: () => void }) {
  const id = c.customer.id;
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const history = useAsync(() => customerTags(id), [id, c.tags.length]);
  async function run(action: () => Promise<unknown>) {
    try {
      await action();
      setError(null);
      done();
    } catch (err) {
      setError(err);
    }
  }
  async function submit(e: Event) {
    e.preventDefault();
    const label = text.trim();
    if (label) await run(() => addTag(id, label));
    setText('');
  }
  return (
    <div class="card" data-testid="tag-panel">
      <h2>{t('ka.tags')}</h2>
      {c.tags.length === 0 && <p class="muted">{t('ka.tags.none')}</p>}
      <ul class="chips" data-testid="tags">
        {c.tags.map((tag) => (
          <li key={`${tag.source}:${tag.tag}`} class={`chip ${tag.source}`} data-tag={tag.tag}>
            {tag.source === 'computed' ? tagText(tag.tag) : tag.tag}
            {tag.source === 'manual' && (
              <button type="button" class="link" aria-label={t('ka.tag.remove', { tag: tag.tag })} onClick={() => run(() => removeTag(id, tag.tag))}>
                ×
              </button>
            )}
          </li>
        ))}
      </ul>
      <form onSubmit={submit} data-testid="add-tag">
        <label>
          {t('ka.tag.label')}
          <input name="tag" value={text} required maxLength={32} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">{t('ka.tag.add')}</button>
      </form>
      {error !== null && <ErrorBox error={error} />}
      <details>
        <summary>{t('ka.tags.history')}</summary>
        <Show state={history}>
          {({ history: events }) => (
            <ul class="list" data-testid="tag-history">
              {events.map((e, i) => (
                <li key={i} class="item">
                  {when(e.at)} · {t(e.added ? 'ka.tag.added' : 'ka.tag.removed', { who: e.actor, tag: e.source === 'computed' ? tagText(e.tag) : e.tag })}
                </li>
              ))}
            </ul>
          )}
        </Show>
      </details>
    </div>
  );
}

function Trend({ trend }: { trend: C360['trend'] }) {
  const max = Math.max(1, ...trend.map(({ wh }) => wh));
  return (
    <div class="bars" role="img" aria-label={t('ka.trend')} data-testid="trend">
      {trend.map(({ day: d, wh }) => (
        <span key={d} class="bar" title={`${day(d)}: ${kwh(wh)}`} style={{ height: `${Math.round((wh / max) * 100)}%` }} />
      ))}
    </div>
  );
}

function PlanVisit({ customerId, done }: { customerId: number; done: () => void }) {
  const [date, setDate] = useState(new Date().toISOString().slice(0, 10));
  const [purpose, setPurpose] = useState('');
  const [error, setError] = useState<unknown>(null);
  async function submit(e: Event) {
    e.preventDefault();
    try {
      await planVisit(customerId, date, purpose.trim());
      setPurpose('');
      setError(null);
      done();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={submit} class="card" data-testid="plan-visit">
      <h3>{t('ka.visit.plan')}</h3>
      <label>
        {t('ka.visit.date')}
        <input type="date" name="planned_for" value={date} required onInput={(e) => setDate((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        {t('ka.visit.purpose')}
        <input name="purpose" value={purpose} required maxLength={200} onInput={(e) => setPurpose((e.target as HTMLInputElement).value)} />
      </label>
      <button class="primary" type="submit">
        {t('ka.visit.plan')}
      </button>
      {error !== null && <ErrorBox error={error} />}
    </form>
  );
}

function AddNote({ customerId, done }: { customerId: number; done: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  async function submit(e: Event) {
    e.preventDefault();
    try {
      await addNote(customerId, text.trim());
      setText('');
      setError(null);
      done();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={submit} data-testid="add-note">
      <label>
        {t('ka.note.new')}
        <textarea name="note" value={text} required maxLength={2000} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      </label>
      <button type="submit">{t('ka.note.save')}</button>
      {error !== null && <ErrorBox error={error} />}
    </form>
  );
}

export function Customer360() {
  const { params } = useRoute();
  const id = Number(params.id);
  const state = useAsync(() => customer360(id), [id]);
  const [editing, setEditing] = useState(false);
  return (
    <Show state={state}>
      {(c) => (
        <section aria-labelledby="c360-title" data-testid="c360">
          <h1 id="c360-title">
            {c.customer.name} <span class="muted">{c.customer.number}</span>
          </h1>
          <Alerts alerts={c.alerts} />
          <div class="card">
            <p>{classes(c.key_account_classes) || t('ka.class.none')}</p>
            {c.segment && (
              <p data-testid="segment">
                {t('ka.abc', { c: c.segment.abc_class })} · {t('ka.revenue', { amount: yuan(c.segment.annual_revenue_fen) })} ·{' '}
                {t('ka.credit', { r: c.segment.credit_rating })} ({c.segment.credit_score})
              </p>
            )}
            {c.segment && (
              <p data-testid="service-level" data-level={c.segment.service_level}>
                {t('ka.service', { level: label('ka.service', c.segment.service_level) })}
              </p>
            )}
            {c.profile && (
              <dl class="facts" data-testid="profile">
                <dt>{t('ka.profile.org')}</dt>
                <dd>{label('ka.org', c.profile.org_type)}</dd>
                <dt>{t('ka.profile.capacity')}</dt>
                <dd>{c.profile.capacity_kva} kVA</dd>
                <dt>{t('ka.profile.voltage')}</dt>
                <dd>{c.profile.voltage_level ?? '—'}</dd>
                <dt>{t('ka.profile.industry')}</dt>
                <dd>{c.profile.industry_code || '—'}</dd>
                {c.profile.households > 0 && (
                  <>
                    <dt>{t('ka.profile.households')}</dt>
                    <dd>{c.profile.households}</dd>
                  </>
                )}
                {c.profile.industrial_park && (
                  <>
                    <dt>{t('ka.profile.park')}</dt>
                    <dd>{c.profile.industrial_park}</dd>
                  </>
                )}
                <dt>{t('ka.profile.technical')}</dt>
                <dd>
                  {c.profile.technical_contact} {c.profile.technical_phone && <a href={`tel:${c.profile.technical_phone}`}>{c.profile.technical_phone}</a>}
                </dd>
                <dt>{t('ka.profile.billing')}</dt>
                <dd>
                  {c.profile.billing_contact} {c.profile.billing_phone && <a href={`tel:${c.profile.billing_phone}`}>{c.profile.billing_phone}</a>}
                </dd>
                <dt>{t('ka.profile.contract')}</dt>
                <dd>{c.profile.contract_expires_on ?? '—'}</dd>
              </dl>
            )}
          </div>
          {editing ? (
            <ProfileForm
              customerId={c.customer.id}
              profile={c.profile}
              done={() => {
                setEditing(false);
                state.reload();
              }}
            />
          ) : (
            <button type="button" onClick={() => setEditing(true)}>
              {t('ka.profile.edit')}
            </button>
          )}
          <TagPanel c={c} done={state.reload} />
          <h2>{t('ka.accounts')}</h2>
          <ul class="list" data-testid="accounts">
            {c.accounts.map((a) => (
              <li key={a.id} class="item">
                {a.number} · {label('ka.kind', a.kind)} · <span class={a.balance_fen < 0 ? 'error' : ''}>{yuan(a.balance_fen)}</span>
              </li>
            ))}
          </ul>
          {c.arrears_fen > 0 && <p class="error">{t('ka.arrears', { amount: yuan(c.arrears_fen) })}</p>}
          <h2>{t('ka.meters')}</h2>
          <ul class="list">
            {c.meters.map((m) => (
              <li key={m.id} class="item">
                {m.meter_id} · {m.online ? t('online') : t('offline')}
              </li>
            ))}
          </ul>
          <h2>{t('ka.trend')}</h2>
          <Trend trend={c.trend} />
          {c.work_orders.length > 0 && (
            <>
              <h2>{t('ka.work_orders')}</h2>
              <ul class="list" data-testid="work-orders">
                {c.work_orders.map((o) => (
                  <li key={o.id} class="item">
                    #{o.id} · {label('order.kind', o.kind)} · {when(o.created_at)} ·{' '}
                    {o.status === 'open' ? <span class="warn">{t('ka.order_open')}</span> : label('order.status', o.status)}
                  </li>
                ))}
              </ul>
            </>
          )}
          <h2>{t('ka.visits')}</h2>
          <ul class="list" data-testid="visits">
            {c.visits.map((v) => (
              <li key={v.id} class="item">
                {v.planned_for} · {v.purpose} · {label('ka.visit', v.status)}
                {v.checked_in_at && ` · ${when(v.checked_in_at)}`}
              </li>
            ))}
          </ul>
          {me.value?.role === 'inspector' && <PlanVisit customerId={c.customer.id} done={state.reload} />}
          <h2>{t('ka.notes')}</h2>
          <ul class="list" data-testid="notes">
            {c.notes.map((n) => (
              <li key={n.id} class="item">
                <strong>{n.from_customer ? t('ka.note.from_customer') : n.author}</strong> · {when(n.created_at)}
                <div>{n.text}</div>
              </li>
            ))}
          </ul>
          <AddNote customerId={c.customer.id} done={state.reload} />
        </section>
      )}
    </Show>
  );
}
