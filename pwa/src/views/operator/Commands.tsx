// Commands (远程控制): order a disconnect or reconnect for one meter, the live list, and one
// command's detail with its audit timeline, cancel (before it is sent) and retry (after it
// failed, expired or was refused). A disconnect waits for a second person, as the policy says.
import { useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { label, say, t, when } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import { SubjectLines, VerdictLine } from './Approval';
import { cancelCommand, commandDetail, type Command, commands, orderCommand, overrideAsked, retryCommand } from './data';

const POLL_MS = 3_000;
const CANCELLABLE = new Set(['awaiting_approval', 'queued']);
const RETRYABLE = new Set(['failed', 'expired', 'refused']);

function problem(err: unknown): string {
  if (err instanceof Error && err.message === 'no-meter') return t('op.order.nometer');
  return errorText(err);
}

/** A command's reason for people: the engine's as a code, an operator's as they wrote it. */
const reasonOf = (c: Command) => (c.reason_code ? say(c.reason_code, c.reason_params) : c.reason);
/** A command's error for people, worded from its code (never the agent's English). */
const errorOf = (c: Command) => (c.error_code || c.error ? say(c.error_code, c.error_params) : null);

function stateClass(c: Command): string {
  return `state ${c.terminal ? (c.state === 'verified' ? 'ok' : 'error') : 'warn'}`;
}

function OrderForm({ done }: { done: () => void }) {
  const [meter, setMeter] = useState('');
  const [kind, setKind] = useState('disconnect');
  const [reason, setReason] = useState('');
  const [override, setOverride] = useState('');
  const [needOverride, setNeedOverride] = useState(false);
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    if (busy) return;
    if (!meter.trim() || reason.trim().length < 3) return setMessage(t('op.order.need'));
    setBusy(true);
    setMessage('');
    try {
      const c = await orderCommand(meter.trim(), kind, reason.trim(), override.trim() || undefined);
      setMessage(c.state === 'awaiting_approval' ? t('op.order.waiting', { meter: c.meter_id }) : t('op.order.queued', { meter: c.meter_id }));
      setReason('');
      setOverride('');
      setNeedOverride(false);
      done();
    } catch (err) {
      if (overrideAsked(err)) setNeedOverride(true);
      setMessage(problem(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} class="card" aria-labelledby="order-title">
      <h2 id="order-title">{t('op.order')}</h2>
      <label>
        {t('op.order.meter')}
        <input name="meter" value={meter} maxLength={64} onInput={(e) => setMeter(e.currentTarget.value)} />
      </label>
      <label>
        {t('op.order.kind')}
        <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
          {['disconnect', 'reconnect', 'arm_reconnect'].map((k) => (
            <option key={k} value={k}>
              {label('kind', k)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('op.order.reason')}
        <input name="reason" value={reason} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      {(needOverride || override) && (
        <label>
          {t('op.override.reason')}
          <input name="override_reason" value={override} maxLength={500} onInput={(e) => setOverride(e.currentTarget.value)} />
        </label>
      )}
      {kind === 'disconnect' && <p class="muted">{t('op.order.foureyes')}</p>}
      <button class="primary" type="submit" disabled={busy}>
        {t('op.order.submit')}
      </button>
      {message && (
        <p role="status" data-testid="order-message">
          {message}
        </p>
      )}
    </form>
  );
}

export function Commands() {
  const state = useAsync(commands, [], POLL_MS);
  return (
    <section aria-labelledby="commands-title">
      <h1 id="commands-title">{t('op.commands')}</h1>
      <OrderForm done={state.reload} />
      <p class="muted">{t('op.commands.live', { s: POLL_MS / 1000 })}</p>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('op.commands.none')}</p>
          ) : (
            <ul class="list" data-testid="commands" aria-live="polite">
              {items.map((c) => (
                <li key={c.id}>
                  <a class="item" href={`/operator/commands/${encodeURIComponent(c.id)}`}>
                    <div class="row spread">
                      <strong>
                        {label('kind', c.kind)} · {c.meter_id}
                      </strong>
                      <span class={stateClass(c)} data-testid="command-state">
                        {label('cmd', c.state)}
                      </span>
                    </div>
                    <div class="muted">
                      {c.subject?.customer_name ?? ''} · {reasonOf(c)} · {c.actor} · {when(c.updated_at)}
                    </div>
                    {errorOf(c) && <div class="error">{errorOf(c)}</div>}
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

export function CommandView() {
  const { params } = useRoute();
  const id = decodeURIComponent(params.id ?? '');
  const state = useAsync(() => commandDetail(id), [id], POLL_MS);
  const [reason, setReason] = useState('');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);

  async function act(work: () => Promise<Command>, done: (c: Command) => string) {
    if (reason.trim().length < 3) return setMessage(t('op.order.need'));
    setBusy(true);
    setMessage('');
    try {
      setMessage(done(await work()));
      setReason('');
      state.reload();
    } catch (err) {
      setMessage(problem(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="command-title">
      <p>
        <a href="/operator/commands">{t('op.commands.back')}</a>
      </p>
      <Show state={state}>
        {({ command: c, audit }) => (
          <>
            <h1 id="command-title">
              {label('kind', c.kind)} · {c.meter_id}
            </h1>
            <p class={stateClass(c)} data-testid="detail-state">
              {label('cmd', c.state)}
            </p>
            <SubjectLines c={c} />
            <VerdictLine verdict={c.verdict} />
            <p>{reasonOf(c)}</p>
            {errorOf(c) && <p class="error">{errorOf(c)}</p>}
            <h2>{t('op.audit')}</h2>
            <ol class="timeline" data-testid="audit">
              {audit.map((a, i) => (
                <li key={i}>
                  <strong>{label('op.event', a.event)}</strong> · {a.actor} · {when(a.at)}
                  <div class="muted">
                    {a.from_state ? `${label('cmd', a.from_state)} → ` : ''}
                    {label('cmd', a.to_state)}
                    {a.note ? ` · ${a.note}` : ''}
                  </div>
                </li>
              ))}
            </ol>
            {(CANCELLABLE.has(c.state) || RETRYABLE.has(c.state)) && (
              <div class="card">
                <label>
                  {CANCELLABLE.has(c.state) ? t('op.cancel.reason') : t('op.retry.reason')}
                  <input name="action_reason" value={reason} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
                </label>
                {CANCELLABLE.has(c.state) ? (
                  <button type="button" class="danger" disabled={busy} onClick={() => void act(() => cancelCommand(c.id, reason.trim()), () => t('op.cancelled'))}>
                    {t('op.cancel')}
                  </button>
                ) : (
                  <button
                    type="button"
                    class="primary"
                    disabled={busy}
                    onClick={() => void act(() => retryCommand(c.id, reason.trim(), c.override_reason ?? undefined), (n) => t('op.retried', { state: label('cmd', n.state) }))}
                  >
                    {t('op.retry')}
                  </button>
                )}
              </div>
            )}
            {message && (
              <p role="status" data-testid="detail-message">
                {message}
              </p>
            )}
          </>
        )}
      </Show>
    </section>
  );
}
