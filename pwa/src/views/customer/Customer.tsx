// The customer's app: balance and days left, supply state, notices, usage, ledger, top-up.
import { lazy, Route, Router } from 'preact-iso';
import { label, t, when, yuan } from '../../i18n';
import { Show, Tabs, useAsync } from '../common';
import { type Account, ledger, loadDetail, mainAccount, type Notice, notices, prepaidStatus, type SupplyState } from './data';
import { TopUp } from './TopUp';

const Usage = lazy(() => import('./Usage').then((m) => m.Usage));

export function SupplyCard({ supply, reason }: { supply: SupplyState; reason: string }) {
  const cls = supply === 'connected' ? 'ok' : supply === 'disconnected' ? 'error' : 'warn';
  return (
    <div class={`card supply ${supply}`} data-testid="supply">
      <h2>{t('cust.supply')}</h2>
      <p class={`${cls} big-text`}>{t(`supply.${supply}`)}</p>
      <p>{t(`supply.${supply}.todo`)}</p>
      {reason && <p class="muted">{reason}</p>}
    </div>
  );
}

function NoticeList({ items }: { items: Notice[] }) {
  if (items.length === 0) return <p class="muted">{t('cust.notices.none')}</p>;
  return (
    <ul class="list" data-testid="notices">
      {items.map((n) => (
        <li key={n.id} class={`notice ${n.kind}`}>
          <div class="item">
            <strong>{n.title || label('notice', n.kind)}</strong>
            <div>{n.body}</div>
            <div class="muted">{when(n.at)}</div>
          </div>
        </li>
      ))}
    </ul>
  );
}

function Overview({ account }: { account: Account }) {
  const status = useAsync(() => prepaidStatus(account.id), [account.id], 30_000);
  const news = useAsync(() => notices(account.id), [account.id]);
  return (
    <>
      <Show state={status}>
        {(s) => (
          <>
            <div class="card" data-testid="balance-card">
              <h1>{t('cust.balance')}</h1>
              <p class={`big ${s.balance_fen < 0 ? 'error' : ''}`} data-testid="balance">
                {yuan(s.balance_fen)}
              </p>
              <p data-testid="days-left">{s.days_left === null ? t('cust.days.unknown') : t('cust.days', { n: s.days_left })}</p>
              {s.tier && (
                <p class="muted" data-testid="tier">
                  {t('cust.tier', { tier: s.tier.tier, price: s.tier.price })}
                  {s.tier.next_threshold_wh !== null &&
                    ` · ${t('cust.tier.next', { kwh: Math.max(0, Math.round((s.tier.next_threshold_wh - s.tier.used_wh) / 1000)) })}`}
                </p>
              )}
              <a class="button primary" href="/customer/topup">
                {t('cust.topup')}
              </a>
            </div>
            <SupplyCard supply={s.supply} reason={s.supply_reason} />
          </>
        )}
      </Show>
      <h2>{t('cust.notices')}</h2>
      <Show state={news}>{(items) => <NoticeList items={items} />}</Show>
    </>
  );
}

function Ledger({ account }: { account: Account }) {
  const state = useAsync(() => ledger(account.id), [account.id]);
  return (
    <section aria-labelledby="ledger-title">
      <h1 id="ledger-title">{t('cust.ledger')}</h1>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('cust.ledger.empty')}</p>
          ) : (
            <table data-testid="ledger">
              <thead>
                <tr>
                  <th scope="col">{t('cust.ledger.when')}</th>
                  <th scope="col">{t('cust.ledger.what')}</th>
                  <th scope="col" class="num">
                    {t('cust.ledger.amount')}
                  </th>
                  <th scope="col" class="num">
                    {t('cust.ledger.balance')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => (
                  <tr key={e.id}>
                    <td>{when(e.at)}</td>
                    <td>
                      {label('entry', e.kind)}
                      {e.memo && <div class="muted">{e.memo}</div>}
                    </td>
                    <td class={`num ${e.amount_fen > 0 ? 'ok' : ''}`}>
                      {e.amount_fen > 0 ? '+' : ''}
                      {yuan(e.amount_fen)}
                    </td>
                    <td class="num">{yuan(e.balance_after_fen)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </section>
  );
}

export function Customer() {
  const state = useAsync(loadDetail);
  return (
    <>
      <Tabs
        base="/customer"
        tabs={[
          ['', t('cust.tab.home')],
          ['/usage', t('cust.tab.usage')],
          ['/ledger', t('cust.tab.ledger')],
          ['/topup', t('cust.tab.topup')],
        ]}
      />
      <Show state={state}>
        {(d) => {
          const account = mainAccount(d);
          if (!account) return <p class="card">{t('cust.noaccount')}</p>;
          return (
            <>
              <p class="muted">
                {d.customer.name} · {t('cust.account')} {account.number}
              </p>
              <Router>
                <Route path="/" component={Overview} account={account} />
                <Route path="/usage" component={Usage} account={account} />
                <Route path="/ledger" component={Ledger} account={account} />
                <Route path="/topup" component={TopUp} account={account} />
              </Router>
            </>
          );
        }}
      </Show>
    </>
  );
}
