// An approval card: whose supply it is (customer, address, what they owe), the disconnect
// policy's verdict as codes the app words, and what the approver must do (four-eyes, an
// explicit override with a comment, or a supervisor's override).
import { useState } from 'preact/hooks';
import { label, say, t, when, yuan } from '../../i18n';
import { me } from '../../lib/api';
import type { Command, Decision, Verdict } from './data';
import { needsOverride } from './data';

/** The policy's verdict: due, or each rule that blocks it as the policy words it (its
 * `policy.*` code with parameters, as in the disconnect queue). */
export function VerdictLine({ verdict }: { verdict: Verdict | null }) {
  if (!verdict) return null;
  const blocking = verdict.rules.filter((r) => !r.ok);
  return (
    <div class={verdict.due ? 'ok' : 'error'} data-testid="verdict">
      <p>
        {verdict.due ? t('op.verdict.due') : t('op.verdict.blocked', { rules: verdict.blocked_by.map((r) => label('rule', r)).join(', ') })}
        {verdict.protected && ` · ${t('op.protected')}`}
      </p>
      {blocking.length > 0 && (
        <ul class="explain" aria-label={t('op.queue.why')}>
          {blocking.map((r) => (
            <li key={r.rule} class="blocks">
              <strong>{label('rule', r.rule)}</strong>: {r.code ? say(r.code, r.params) : t('op.rule.blocks')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function SubjectLines({ c }: { c: Command }) {
  const s = c.subject;
  return (
    <div data-testid="subject">
      <strong>
        {s ? `${s.customer_name} · ${s.customer_number}` : t('op.subject.none')} · {c.meter_id}
      </strong>
      {s?.address && <div class="muted">{s.address}</div>}
      {s && (
        <div>
          {t('op.subject.owed')}: <span class={s.owed_fen > 0 ? 'error' : undefined}>{yuan(s.owed_fen)}</span>
          {s.account_number && <span class="muted"> · {s.account_number}</span>}
        </div>
      )}
    </div>
  );
}

/** The approver's controls: approve (with the override and its comment when needed), reject. */
export function DecisionForm({
  requester,
  approval,
  busy,
  decide,
}: {
  requester: string;
  approval: string;
  busy: boolean;
  decide: (approve: boolean, d: Decision) => void;
}) {
  const [override, setOverride] = useState(false);
  const [comment, setComment] = useState('');
  const who = me.value;
  if (who?.username === requester) return <p class="muted">{t('op.batch.own')}</p>;
  const supervisorOnly = approval === 'supervisor_override' && who?.role !== 'supervisor' && who?.role !== 'admin';
  if (supervisorOnly) return <p class="muted">{t('op.approval.supervisor')}</p>;
  const mustOverride = needsOverride(approval);
  const ready = !mustOverride || (override && comment.trim().length >= 3);
  return (
    <div class="stack">
      <p class="muted">{label('op.approval', approval)}</p>
      {mustOverride && (
        <>
          <label class="check">
            <input type="checkbox" name="override" checked={override} onChange={(e) => setOverride(e.currentTarget.checked)} />
            {t('op.override.confirm')}
          </label>
          <label>
            {t('op.override.comment')}
            <input name="comment" value={comment} maxLength={500} onInput={(e) => setComment(e.currentTarget.value)} />
          </label>
        </>
      )}
      <div class="row">
        <button type="button" class="primary" disabled={busy || !ready} onClick={() => decide(true, { comment: comment.trim(), override })}>
          {mustOverride ? t('op.override.approve') : t('op.batch.approve')}
        </button>
        <button type="button" class="danger" disabled={busy} onClick={() => decide(false, { comment: comment.trim() || t('op.batch.rejected.note'), override: false })}>
          {t('op.batch.reject')}
        </button>
      </div>
    </div>
  );
}

export function CommandCard({ c, busy, decide }: { c: Command; busy: boolean; decide: (approve: boolean, d: Decision) => void }) {
  return (
    <div class="item">
      <strong>{label('kind', c.kind)}</strong>
      <SubjectLines c={c} />
      <VerdictLine verdict={c.verdict} />
      <div>{c.reason}</div>
      {c.override_reason && <div class="warn">{t('op.override.reason.shown', { why: c.override_reason })}</div>}
      <div class="muted">{t('op.batch.by', { who: c.actor, when: when(c.created_at) })}</div>
      <DecisionForm requester={c.actor} approval={c.approval} busy={busy} decide={decide} />
    </div>
  );
}
