// The operators' queue of account changes: waiting ones first; approve applies the change to
// the account (and closes its work order), reject takes a reason.
import { useState } from 'preact/hooks';
import { t } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import { approveChange, type Change, changes, rejectChange } from './data';
import { ChangeSummary } from './parts';

function Decide({ c, done }: { c: Change; done: () => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function act(run: () => Promise<Change>) {
    setBusy(true);
    setError('');
    try {
      await run();
      done();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return (
    <div class="row">
      <button type="button" class="primary" disabled={busy} data-testid="approve-change" onClick={() => act(() => approveChange(c.id))}>
        {t('change.approve')}
      </button>
      <input name="reason" aria-label={t('change.reject.reason')} placeholder={t('change.reject.reason')} maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <button type="button" disabled={busy || !reason.trim()} data-testid="reject-change" onClick={() => act(() => rejectChange(c.id, reason.trim()))}>
        {t('change.reject')}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function ChangeQueue() {
  const [tick, setTick] = useState(0);
  const state = useAsync(() => changes(), [tick], 30_000);
  return (
    <section aria-labelledby="queue-title">
      <h1 id="queue-title">{t('change.queue')}</h1>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('change.none')}</p>
          ) : (
            <ul class="list" data-testid="change-queue">
              {items.map((c) => (
                <li key={c.id} class="card">
                  <ChangeSummary c={c} />
                  {c.status === 'requested' && <Decide c={c} done={() => setTick(tick + 1)} />}
                  <a href={`/operator/orders/${c.order_id}`}>{t('change.order', { order: c.order_id })}</a>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}
