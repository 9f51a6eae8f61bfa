// Arrears and the disconnect queue (欠费停电), each entry with the policy's explanation, and the
// bulk disconnect batches waiting for a second operator's approval (four-eyes).
import { useState } from 'preact/hooks';
import { label, say, t, when, yuan } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import { CommandCard, SubjectLines, VerdictLine, DecisionForm } from './Approval';
import {
  approveBatch,
  approveCommand,
  arrears,
  awaitingApproval,
  awaitingCommands,
  type Batch,
  type Command,
  type Decision,
  proposeDisconnect,
  queue,
  type QueueItem,
  rejectBatch,
  rejectCommand,
} from './data';

function Approvals() {
  const batches = useAsync(awaitingApproval, [], 5_000);
  const singles = useAsync(awaitingCommands, [], 5_000);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState('');

  async function run(key: string, work: () => Promise<unknown>, done: string) {
    setBusy(key);
    setMessage('');
    try {
      await work();
      setMessage(done);
    } catch (err) {
      setMessage(errorText(err));
    } finally {
      setBusy(null);
      batches.reload();
      singles.reload();
    }
  }

  const decideBatch = (b: Batch, approve: boolean, d: Decision) =>
    run(
      `b${b.id}`,
      () => (approve ? approveBatch(b.id, d) : rejectBatch(b.id, d.comment)),
      approve ? t('op.batch.approved', { n: b.commands.length }) : t('op.batch.rejected'),
    );
  const decideCommand = (c: Command, approve: boolean, d: Decision) =>
    run(`c${c.id}`, () => (approve ? approveCommand(c.id, d) : rejectCommand(c.id, d.comment)), approve ? t('op.batch.approved', { n: 1 }) : t('op.batch.rejected'));

  return (
    <section aria-labelledby="approvals-title">
      <h2 id="approvals-title">{t('op.approvals')}</h2>
      {message && (
        <p class="card" role="status" data-testid="approval-message">
          {message}
        </p>
      )}
      <Show state={singles}>
        {(items) =>
          items.length === 0 ? null : (
            <ul class="list" data-testid="command-approvals">
              {items.map((c) => (
                <li key={c.id}>
                  <CommandCard c={c} busy={busy === `c${c.id}`} decide={(approve, d) => void decideCommand(c, approve, d)} />
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <Show state={batches}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('op.approvals.none')}</p>
          ) : (
            <ul class="list" data-testid="approvals">
              {items.map((b) => (
                <li key={b.id}>
                  <div class="item">
                    <strong>
                      {label('kind', b.kind)} × {b.commands.length}
                    </strong>
                    <div>{b.reason}</div>
                    {b.override_reason && <div class="warn">{t('op.override.reason.shown', { why: b.override_reason })}</div>}
                    <ul class="explain">
                      {b.commands.map((c) => (
                        <li key={c.id}>
                          <SubjectLines c={c} />
                          <VerdictLine verdict={c.verdict} />
                        </li>
                      ))}
                    </ul>
                    <div class="muted">{t('op.batch.by', { who: b.requested_by, when: when(b.created_at) })}</div>
                    <DecisionForm requester={b.requested_by} approval={b.approval} busy={busy === `b${b.id}`} decide={(approve, d) => void decideBatch(b, approve, d)} />
                  </div>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

function QueueEntry({ item, checked, toggle }: { item: QueueItem; checked: boolean; toggle: () => void }) {
  const { due, reasons, next_allowed_at } = item.policy;
  const busy = item.pending_commands.length > 0;
  return (
    <li class={due ? undefined : 'held'}>
      <div class="item">
        <div class="row spread">
          <strong>
            {item.customer_name} · {item.account_number}
          </strong>
          <span class="error">{yuan(item.balance_fen)}</span>
        </div>
        <p class={due ? 'error' : 'muted'}>
          {due ? t('op.queue.due') : next_allowed_at ? t('op.queue.next', { when: when(next_allowed_at) }) : t('op.queue.never')}
        </p>
        <ul class="explain" aria-label={t('op.queue.why')}>
          {reasons.map((r) => (
            <li key={r.rule} class={r.ok ? undefined : 'blocks'}>
              <span aria-hidden="true">{r.ok ? '✓' : '✗'}</span> <strong>{label('rule', r.rule)}</strong>
              <span class="visually-hidden">{r.ok ? t('op.rule.ok') : t('op.rule.blocks')}</span>: {say(r.code, r.params)}
            </li>
          ))}
        </ul>
        {busy ? (
          <p class="muted">
            {item.pending_commands.map((c) => `${label('kind', c.kind)}: ${label('cmd', c.state)}`).join(' · ')}
          </p>
        ) : (
          <label class="check">
            <input type="checkbox" name={`account-${item.account_id}`} checked={checked} onChange={toggle} />
            {t('op.queue.select')}
          </label>
        )}
      </div>
    </li>
  );
}

function Queue() {
  const state = useAsync(queue, [], 15_000);
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const [reason, setReason] = useState('');
  const [overrideReason, setOverrideReason] = useState('');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const items = state.data?.items ?? [];
  // an account the policy does not find due can only be proposed as an override, with a reason
  const blocked = items.some((i) => picked.has(i.account_id) && !i.policy.due);

  async function propose(e: Event) {
    e.preventDefault();
    if (busy) return;
    if (picked.size === 0 || reason.trim().length < 3) return setMessage(t('op.queue.need'));
    if (blocked && overrideReason.trim().length < 3) return setMessage(t('op.override.need'));
    setBusy(true);
    try {
      const b = await proposeDisconnect([...picked], reason.trim(), blocked ? overrideReason.trim() : undefined);
      setPicked(new Set());
      setReason('');
      setOverrideReason('');
      setMessage(t('op.queue.proposed', { n: b.commands.length }));
      state.reload();
    } catch (err) {
      setMessage(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="queue-title">
      <h2 id="queue-title">{t('op.queue')}</h2>
      {message && (
        <p class="card" role="status" data-testid="queue-message">
          {message}
        </p>
      )}
      <Show state={state}>
        {({ items, total }) =>
          items.length === 0 ? (
            <p class="muted">{t('op.queue.none')}</p>
          ) : (
            <form onSubmit={propose}>
              <p class="muted">{t('op.queue.count', { n: total })}</p>
              <ul class="list" data-testid="queue">
                {items.map((i) => (
                  <QueueEntry
                    key={i.account_id}
                    item={i}
                    checked={picked.has(i.account_id)}
                    toggle={() => {
                      const next = new Set(picked);
                      if (!next.delete(i.account_id)) next.add(i.account_id);
                      setPicked(next);
                    }}
                  />
                ))}
              </ul>
              <label>
                {t('op.queue.reason')}
                <input name="reason" value={reason} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
              </label>
              {blocked && (
                <label>
                  {t('op.override.reason')}
                  <input name="override_reason" value={overrideReason} maxLength={500} onInput={(e) => setOverrideReason(e.currentTarget.value)} />
                </label>
              )}
              <button class="primary" type="submit" disabled={picked.size === 0 || busy}>
                {t('op.queue.propose', { n: picked.size })}
              </button>
            </form>
          )
        }
      </Show>
    </section>
  );
}

export function Arrears() {
  const state = useAsync(arrears);
  return (
    <section aria-labelledby="arrears-title">
      <h1 id="arrears-title">{t('op.arrears')}</h1>
      <Show state={state}>
        {({ items, total }) =>
          items.length === 0 ? (
            <p class="muted">{t('op.arrears.none')}</p>
          ) : (
            <>
              <p class="muted">{t('op.arrears.count', { n: total })}</p>
              <table data-testid="arrears">
                <thead>
                  <tr>
                    <th scope="col">{t('op.customer')}</th>
                    <th scope="col" class="num">
                      {t('cust.balance')}
                    </th>
                    <th scope="col">{t('cust.supply')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((a) => (
                    <tr key={a.account_id}>
                      <td>
                        {a.customer_name}
                        <div class="muted">
                          {a.customer_number}
                          {a.protected && ` · ${t('op.protected')}`}
                        </div>
                      </td>
                      <td class="num error">{yuan(a.balance_fen)}</td>
                      <td>
                        {label('supply', a.supply)}
                        {a.episode_opened_at && <div class="muted">{t('op.warned', { when: when(a.episode_opened_at) })}</div>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )
        }
      </Show>
    </section>
  );
}

export function Disconnect() {
  return (
    <>
      <h1>{t('op.disconnect')}</h1>
      <Approvals />
      <Queue />
    </>
  );
}
