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
      {c.kind === 'name' && (
        <div>{t('change.name.change', { from: String(c.before.holder_name ?? ''), to: String(after.holder_name ?? ''), document: String(after.id_document ?? '') })}</div>
      )}
      {c.kind === 'capacity' && <div>{t('change.capacity.change', { from: Number(c.before.capacity_kva ?? 0), to: Number(after.capacity_kva ?? 0) })}</div>}
      {c.kind === 'suspension' && <div>{t('change.suspension.stretch', { until: String(after.until ?? '') })}</div>}
      {c.kind === 'resumption' && <div>{t('change.resumption.of', { change: Number(after.suspension_id ?? 0) })}</div>}
      {c.kind === 'temporary' && <div>{t('change.temporary.ends', { until: String(after.until ?? '') })}</div>}
      {c.kind === 'move' && (
        <div data-testid="change-move">
          {t('change.move.to', { address: String(after.address ?? '') })} · {label('change.settlement', after.settlement === 'transfer' ? 'transfer_new' : 'refund')}
          {typeof after.settled_fen === 'number' && ` · ${yuan(after.settled_fen)}`}
          {typeof after.new_account_number === 'string' && ` · ${t('change.move.new_account', { account: after.new_account_number })}`}
          {typeof after.final_reading_wh === 'number' && ` · ${t('change.final_reading', { reading: kwh(after.final_reading_wh), at: typeof after.final_reading_at === 'number' ? when(after.final_reading_at) : '' })}`}
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
