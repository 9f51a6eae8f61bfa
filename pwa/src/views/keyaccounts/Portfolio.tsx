// The customer manager's (客户经理) portfolio: key accounts first, each with what needs attention.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { say, t } from '../../i18n';
import { Show, useAsync } from '../common';
import { type Alert, COMPUTED_TAGS, portfolio } from './data';

// a computed tag in words; a manager's own label as written
export const tagText = (tag: string) => (COMPUTED_TAGS.includes(tag) ? t(`tag.${tag}`) : tag);

export function Tags({ tags, onPick }: { tags: string[]; onPick?: (tag: string) => void }) {
  if (tags.length === 0) return null;
  return (
    <ul class="chips" data-testid="tags">
      {tags.map((tag) => (
        <li key={tag} class="chip" data-tag={tag}>
          {onPick ? (
            <button type="button" class="link" onClick={(e) => (e.preventDefault(), onPick(tag))}>
              {tagText(tag)}
            </button>
          ) : (
            tagText(tag)
          )}
        </li>
      ))}
    </ul>
  );
}

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
  const [tag, setTag] = useState('');
  // the same list for a manager (their portfolio) and the back office (everyone)
  const base = useLocation().path.startsWith('/operator') ? '/operator' : '/inspector';
  const state = useAsync(() => portfolio(alertsOnly, tag), [alertsOnly, tag]);
  const tagOptions = COMPUTED_TAGS.includes(tag) || tag === '' ? COMPUTED_TAGS : [...COMPUTED_TAGS, tag];
  return (
    <section aria-labelledby="portfolio-title">
      <h1 id="portfolio-title">{t('ka.portfolio')}</h1>
      <p class="links">
        <a href={`${base}/surveys`}>{t('ka.results')}</a>
        {base === '/operator' && (
          <>
            {' · '}
            <a href={`${base}/org`}>{t('ka.org_tree')}</a>
          </>
        )}
      </p>
      <label class="check">
        <input type="checkbox" checked={alertsOnly} onChange={(e) => setAlertsOnly((e.target as HTMLInputElement).checked)} /> {t('ka.alerts.only')}
      </label>
      <label>
        {t('ka.tag.filter')}
        <select name="tag" value={tag} onChange={(e) => setTag((e.target as HTMLSelectElement).value)}>
          <option value="">{t('ka.tag.all')}</option>
          {tagOptions.map((code) => (
            <option key={code} value={code}>
              {tagText(code)}
            </option>
          ))}
        </select>
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
                    <Tags tags={c.tags} onPick={setTag} />
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
