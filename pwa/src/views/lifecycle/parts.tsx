// What a change says, the same for the customer and the operator.
import { label, t, when, yuan, kwh } from '../../i18n';
import type { Change } from './data';

export function ChangeSummary({ c }: { c: Change }) {
  const after = c.after;
  return (
    <div class="item" data-testid="change">
      <strong>
        {label('change.kind', c.kind)} #{c.id} · <span data-testid="change-status">{label('change.status', c.status)}</span>
      </strong>
      <div>
        {t('change.account')} {c.account_number} · {t('change.effective', { day: c.effective_from })}
      </div>
      {c.kind === 'category' && (
        <div>
          {label('category', String(c.before.category ?? ''))} → {label('category', String(after.category ?? ''))}
        </div>
      )}
      {c.kind === 'ownership' && (
        <div>
          {t('change.holder', { from: String(c.before.holder_name ?? ''), to: String(after.holder_name ?? '') })} · {label('change.settlement', String(after.settlement ?? 'carry'))}
        </div>
      )}
      {c.kind === 'closure' && (
        <div>
          {label('change.settlement', String(after.settlement ?? 'refund'))}
          {typeof after.settled_fen === 'number' && ` · ${yuan(after.settled_fen)}`}
          {typeof after.final_reading_wh === 'number' && ` · ${t('change.final_reading', { reading: kwh(after.final_reading_wh), at: typeof after.final_reading_at === 'number' ? when(after.final_reading_at) : '' })}`}
        </div>
      )}
      {c.note && <div class="muted">{c.note}</div>}
      {c.reason && <div class="error">{t('change.reason', { reason: c.reason })}</div>}
      <div class="muted">
        {when(c.requested_at)}
        {c.decided_at !== null && ` → ${when(c.decided_at)}`}
      </div>
    </div>
  );
}
