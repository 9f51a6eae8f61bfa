// What the customer's and the staff's application screens share: the heading with the current
// step and its deadline, the steps with their published time limits, and the history.
import { useState } from 'preact/hooks';
import { label, say, t, when, yuan } from '../../i18n';
import { errorText } from '../common';
import { type Application, type Entry, type Row, withdraw } from './data';

export function Due({ a }: { a: Row }) {
  if (a.status !== 'open') return <span class="ok">{label('yk.status', a.status)}</span>;
  const step = label('yk.step', a.step);
  return (
    <span class={a.overdue ? 'error' : undefined} data-testid="yk-due">
      {t(a.overdue ? 'yk.overdue' : 'yk.due', { step, when: when(a.step_due_at) })}
      {a.green_channel && ` · ${t('yk.green')}`}
    </span>
  );
}

export function Heading({ a }: { a: Application }) {
  return (
    <>
      <h1>
        {label('yk.type', a.supply_type)} · {label('yk.kind', a.kind)}
      </h1>
      <p class="muted">{t('yk.number', { number: a.number })}</p>
      <p data-testid="yk-state">
        <Due a={a} />
      </p>
      {a.status === 'energised' && a.energised_at !== null && (
        <p class="ok" data-testid="yk-energised">
          {t('yk.energised', { when: when(a.energised_at), meter: a.meter_id })}
        </p>
      )}
    </>
  );
}

export function Steps({ a }: { a: Application }) {
  return (
    <section aria-labelledby="yk-steps-title">
      <h2 id="yk-steps-title">{t('yk.steps')}</h2>
      <ol class="list" data-testid="yk-steps">
        {a.steps.map((s) => (
          <li key={s.key} class={s.key === a.step && a.status === 'open' ? 'current' : undefined}>
            <div class="item">
              <strong>{label('yk.step', s.key)}</strong> · {t(`yk.unit.${s.unit}`, { n: s.deadline })}
              <div class={s.on_time === false ? 'error' : 'muted'}>
                {s.finished_at !== null
                  ? t(s.on_time ? 'yk.steps.done' : 'yk.steps.late', { when: when(s.finished_at) })
                  : s.due_at !== null
                    ? t('yk.steps.due', { when: when(s.due_at) })
                    : t('yk.steps.waiting')}
              </div>
            </div>
          </li>
        ))}
      </ol>
      {a.fee_lines.length > 0 && (
        <p data-testid="yk-fees">
          {t('yk.fees')}: {yuan(a.fees_fen)}
        </p>
      )}
    </section>
  );
}

/** The server's parameters, with steps, documents and types worded in the app's language. */
function words(e: Entry): Entry['params'] {
  const p = { ...e.params };
  for (const k of ['step', 'next']) if (typeof p[k] === 'string') p[k] = label('yk.step', p[k] as string);
  if (typeof p.type === 'string') p.type = label('yk.type', p.type);
  if (typeof p.kind === 'string') p.kind = label('yk.kind', p.kind);
  if (typeof p.channel === 'string') p.channel = label('yk.channel', p.channel);
  if (typeof p.reason === 'string') p.reason = label('yk.reason', p.reason);
  if (typeof p.document === 'string') p.document = label('yk.doc', p.document);
  if (typeof p.missing === 'string')
    p.missing = p.missing
      .split(', ')
      .map((d) => label('yk.doc', d))
      .join('、');
  return p;
}

export function History({ a }: { a: Application }) {
  return (
    <section aria-labelledby="yk-history-title">
      <h2 id="yk-history-title">{t('yk.timeline')}</h2>
      <ol class="list" data-testid="yk-timeline">
        {a.timeline.map((e, i) => (
          <li key={i}>
            <div class="item">
              <strong>{say(e.code, words(e))}</strong>
              <div class="muted">{when(e.at)}</div>
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}

/** 撤回: the customer's own application or staff's, before energisation, with a reason code. */
export function Withdraw({ a, done, reasons }: { a: Application; done: (a: Application) => void; reasons: readonly string[] }) {
  const [reason, setReason] = useState(reasons[0]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  if (a.status !== 'open') return null;
  return (
    <form
      class="card"
      data-testid="yk-withdraw-form"
      onSubmit={async (e) => {
        e.preventDefault();
        if (busy) return; // a double tap withdraws once
        setBusy(true);
        try {
          done(await withdraw(a, reason));
          setError('');
        } catch (err) {
          setError(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <label>
        {t('yk.withdraw_reason')}
        <select value={reason} data-testid="yk-withdraw-reason" onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
          {reasons.map((r) => (
            <option key={r} value={r}>
              {label('yk.reason', r)}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={busy} data-testid="yk-withdraw">
        {t('yk.withdraw')}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
