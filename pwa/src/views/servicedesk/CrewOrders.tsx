// A crew's work orders: the faults it was dispatched to (and orders it owns or took). Arriving
// on site is reported with the repair-job form, which names the order; finishing the job moves
// the order on to be closed.
import { label, t } from '../../i18n';
import { me } from '../../lib/api';
import { Show, useAsync } from '../common';
import { queue } from './data';
import { Deadline } from './parts';

export function CrewOrders() {
  const state = useAsync(() => queue('open'), [], 60_000);
  return (
    <section aria-labelledby="crew-orders-title">
      <h1 id="crew-orders-title">{t('crew.orders')}</h1>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('crew.orders.none')}</p>
          ) : (
            <ul class="list" data-testid="crew-orders">
              {items.map((o) => (
                <li key={o.id}>
                  <div class="item">
                    <strong>
                      {label('order.kind', o.kind)} #{o.id} · {o.location || o.customer_name}
                    </strong>
                    <div>{o.description}</div>
                    <div class="muted">
                      <Deadline o={o} /> · {o.contact_name} {o.contact_phone}
                    </div>
                    {o.node === 'arrive' && o.crew?.id === me.value?.id && (
                      <a class="button primary" href={`/inspector/repair?order=${o.id}`} data-testid="report-arrival">
                        {t('crew.orders.arrived')}
                      </a>
                    )}
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
