// Pieces the operator's and the customer's order screens share: the order's heading, its
// deadline and its timeline, all worded from codes.
import { label, say, t, when } from '../../i18n';
import { useEffect, useState } from 'preact/hooks';
import { type Order, type OrderDetail, orderPhotoUrl } from './data';

export function Deadline({ o }: { o: Order }) {
  if (o.status === 'closed') return <span class="ok">{t('order.status.closed')}</span>;
  return (
    <span class={o.overdue ? 'error' : undefined} data-testid="deadline">
      {label('order.node', o.node)} · {t(o.overdue ? 'order.overdue_since' : 'order.due', { when: when(o.node_due_at) })}
      {o.escalated && ` · ${t('order.flag.escalated')}`}
    </span>
  );
}

export function Heading({ o }: { o: Order }) {
  return (
    <>
      <h1>
        {label('order.kind', o.kind)} #{o.id}
      </h1>
      <p data-testid="order-state">
        <Deadline o={o} />
      </p>
    </>
  );
}

export function Timeline({ d }: { d: OrderDetail }) {
  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">{t('order.timeline')}</h2>
      <ol class="list" data-testid="timeline">
        {d.timeline.map((e, i) => (
          <li key={i}>
            <div class="item">
              <strong>{say(e.code, e.params)}</strong>
              <div class="muted">
                {when(e.at)} · {e.actor ? e.actor.name : t('order.by_workflow')}
              </div>
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}

export function Stars({ value, onPick, name }: { value: number; onPick: (n: number) => void; name: string }) {
  return (
    <div class="row" role="radiogroup" aria-label={name}>
      {[1, 2, 3, 4, 5].map((n) => (
        <button
          key={n}
          type="button"
          role="radio"
          aria-checked={value === n}
          onClick={() => onPick(n)}
          data-testid={`star-${n}`}
        >
          {'★'.repeat(n)}
        </button>
      ))}
    </div>
  );
}

/** The photo the customer sent with the report, if any. */
export function OrderPhoto({ o }: { o: Order }) {
  const [url, setUrl] = useState('');
  useEffect(() => {
    if (!o.photo_sha256) return;
    let made = '';
    orderPhotoUrl(o.id).then(
      (u) => setUrl((made = u)),
      () => setUrl(''),
    );
    return () => made && URL.revokeObjectURL(made);
  }, [o.id, o.photo_sha256]);
  if (!url) return null;
  return <img data-testid="order-photo" src={url} alt={t('order.photo')} style={{ maxWidth: '100%' }} />;
}
