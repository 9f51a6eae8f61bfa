// The customer manager's (客户经理) portfolio: key accounts first, each with what needs attention.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { say, t } from '../../i18n';
import { Show, useAsync } from '../common';
import { type Alert, portfolio } from './data';

export function Alerts({ alerts }: { alerts: Alert[] }) {
  if (alerts.length === 0) return null;
  return (
    <ul class="alerts" data-testid="alerts">
      {alerts.map((a, i) => (
        <li key={i} class="warn" data-code={a.code}>
          ⚠ {say(a.code, a.params)}
        </li>
      ))}
    </ul>
  );
}

export function classes(list: number[]): string {
  return list.length === 0 ? '' : list.map((k) => t(`ka.class.${k}`)).join(' · ');
}

export function Portfolio() {
  const [alertsOnly, setAlertsOnly] = useState(false);
  // the same list for a manager (their portfolio) and the back office (everyone)
  const base = useLocation().path.startsWith('/operator') ? '/operator' : '/inspector';
  const state = useAsync(() => portfolio(alertsOnly), [alertsOnly]);
  return (
    <section aria-labelledby="portfolio-title">
      <h1 id="portfolio-title">{t('ka.portfolio')}</h1>
      <label class="check">
        <input type="checkbox" checked={alertsOnly} onChange={(e) => setAlertsOnly((e.target as HTMLInputElement).checked)} /> {t('ka.alerts.only')}
      </label>
      <Show state={state}>
        {({ items, total }) =>
          items.length === 0 ? (
            <p class="card ok">{t('ka.portfolio.empty')}</p>
          ) : (
            <>
              <p class="muted">{t('ka.portfolio.count', { n: total })}</p>
              <ul class="list" data-testid="portfolio">
                {items.map((c) => (
                  <li key={c.customer_id}>
                    <a class="item" href={`${base}/customer/${c.customer_id}`} data-testid={`customer-${c.number}`}>
                      <strong>
                        {c.name} <span class="muted">{c.number}</span>
                      </strong>
                      <div class="muted">
                        {classes(c.key_account_classes)}
                        {c.abc_class && ` · ${t('ka.abc', { c: c.abc_class })}`}
                        {c.credit_rating && ` · ${t('ka.credit', { r: c.credit_rating })}`}
                      </div>
                      <Alerts alerts={c.alerts} />
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )
        }
      </Show>
    </section>
  );
}
