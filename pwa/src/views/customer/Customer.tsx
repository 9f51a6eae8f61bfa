// The customer's app: balance and days left, supply state, notices, usage, ledger, top-up,
// and their 95598 work orders (report a fault, follow it, rate it).
import { lazy, Route, Router, useLocation } from 'preact-iso';
import { label, say, t, when, yuan } from '../../i18n';
import { Show, Tabs, useAsync } from '../common';
import { type Account, balance, ledger, loadDetail, mainAccount, myOutages, notices, outages, type Supply, supply } from './data';
import { BillView } from './Bill';
import { Compare } from './Compare';
import { IssuedBills } from './IssuedBills';
import { TierCard } from './Tier';
import { TopUp } from './TopUp';
import { MyOrder, MyOrders, ReportOrder } from '../servicedesk/CustomerOrders';
import { MyChanges } from '../lifecycle/MyChanges';

const Usage = lazy(() => import('./Usage').then((m) => m.Usage));
const MyManager = lazy(() => import('../keyaccounts/MyManager').then((m) => m.MyManager));
const Survey = lazy(() => import('../keyaccounts/Survey').then((m) => m.Survey));
const MyApplications = lazy(() => import('../expansion/Apply').then((m) => m.MyApplications));
const ApplyForm = lazy(() => import('../expansion/Apply').then((m) => m.ApplyForm));
const MyApplication = lazy(() => import('../expansion/Apply').then((m) => m.MyApplication));

/** Days of credit at the recent spend rate; under a day in hours, never "0 days". */
function daysLeft(days: number | null): string {
  if (days === null) return t('cust.days.unknown');
  if (days >= 1) return t('cust.days', { n: Math.floor(days) });
  const hours = Math.floor(days * 24);
  return hours >= 1 ? t('cust.days.hours', { n: hours }) : t('cust.days.minutes');
}

export function SupplyCard({ s }: { s: Supply }) {
  const cls = s.supply === 'connected' ? 'ok' : s.supply === 'disconnected' ? 'error' : 'warn';
  return (
    <div class={`card supply ${s.supply}`} data-testid="supply">
      <h2>{t('cust.supply')}</h2>
      <p class={`${cls} big-text`}>{label('supply', s.supply)}</p>
      <p>
        {s.action === 'top_up' && s.amount_to_restore_fen === 0
          ? t('action.top_up.keep')
          : s.action === 'none' && s.supply !== 'connected'
            ? t('action.none.unknown') // never "your electricity is on" when it is not known
            : t(`action.${s.action}`, { amount: yuan(s.amount_to_restore_fen) })}
      </p>
      {s.planned_disconnect_at && s.supply === 'connected' && (
        <p class="warn">{t('cust.disconnect.planned', { when: when(s.planned_disconnect_at) })}</p>
      )}
    </div>
  );
}

function Notices({ account, areaId }: { account: Account; areaId: number | null }) {
  const state = useAsync(() => Promise.all([notices(account.id), outages(areaId), myOutages()]), [account.id, areaId], 30_000);
  return (
    <Show state={state}>
      {([items, outs, mine]) =>
        items.length + outs.length + mine.length === 0 ? (
          <p class="muted">{t('cust.notices.none')}</p>
        ) : (
          <ul class="list" data-testid="notices">
            {mine.map((o) => (
              <li key={`m${o.outage_id}`} class={`notice outage ${o.on_at === null ? 'error' : ''}`} data-testid="my-outage">
                <div class="item">
                  <strong>{t(o.on_at === null ? 'cust.outage' : 'cust.outage.back')}</strong>
                  {o.notices.map((n, i) => (
                    <div key={i}>{say(n.code, n.params)}</div>
                  ))}
                  {o.on_at === null && o.expected_end_at !== null && (
                    <div class="muted">{t('cust.outage.expected', { when: when(o.expected_end_at) })}</div>
                  )}
                </div>
              </li>
            ))}
            {outs.map((o) => (
              <li key={`o${o.id}`} class="notice outage">
                <div class="item">
                  <strong>{t(o.kind === 'planned' ? 'notice.outage.planned' : 'notice.outage.unplanned')}</strong>
                  <div>{t('notice.outage.when', { area: o.area, from: when(o.starts_at), to: when(o.expected_end_at) })}</div>
                  <div class="muted">{o.reason}</div>
                </div>
              </li>
            ))}
            {items.map((n) => (
              <li key={n.id} class={`notice ${n.kind}`}>
                <div class="item">
                  <strong>{label('notice', n.kind)}</strong>
                  <div>{n.code ? say(n.code, n.params) : n.text}</div>
                  <div class="muted">{when(n.created_at)}</div>
                </div>
              </li>
            ))}
          </ul>
        )
      }
    </Show>
  );
}

function Overview({ account, areaId }: { account: Account; areaId: number | null }) {
  const bal = useAsync(() => balance(account.id), [account.id], 30_000);
  const sup = useAsync(() => supply(account.id), [account.id], 30_000);
  return (
    <>
      <Show state={bal}>
        {(b) => (
          <div class="card" data-testid="balance-card">
            <h1>{t('cust.balance')}</h1>
            <p class={`big ${b.balance_fen < 0 ? 'error' : ''}`} data-testid="balance">
              {yuan(b.balance_fen)}
            </p>
            <p data-testid="days-left" class={b.low ? 'warn' : undefined}>
              {daysLeft(b.days_left)}
            </p>
            {b.in_arrears && <p class="error">{t('cust.arrears')}</p>}
            <TierCard account={account} compact />
            <a class="button primary" href="/customer/topup">
              {t('cust.topup')}
            </a>
          </div>
        )}
      </Show>
      <Show state={sup}>{(s) => <SupplyCard s={s} />}</Show>
      <h2>{t('cust.notices')}</h2>
      <Notices account={account} areaId={areaId} />
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
                    <td>{when(e.created_at)}</td>
                    <td>
                      {label('entry', e.kind)}
                      {e.memo_code ? <div class="muted">{say(e.memo_code, e.memo_params)}</div> : e.memo && <div class="muted">{e.memo}</div>}
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
  const { path } = useLocation();
  const applying = path.startsWith('/customer/apply');
  const state = useAsync(() => (applying ? Promise.resolve(null) : loadDetail()), [applying]);
  return (
    <>
      <Tabs
        base="/customer"
        tabs={[
          ['', t('cust.tab.home')],
          ['/usage', t('cust.tab.usage')],
          ['/bill', t('cust.tab.bill')],
          ['/bills', t('cust.tab.issued')],
          ['/compare', t('cust.tab.compare')],
          ['/ledger', t('cust.tab.ledger')],
          ['/topup', t('cust.tab.topup')],
          ['/orders', t('cust.tab.orders')],
          ['/changes', t('cust.tab.changes')],
          ['/manager', t('ka.tab.manager')],
          ['/survey', t('ka.tab.survey')],
          ['/apply', t('yk.tab.apply')],
        ]}
      />
      <Show state={state}>
        {(d) => {
          // applying for supply (业扩报装) needs no account yet: these screens stand on their own
          if (d === null)
            return (
              <Router>
                <Route path="/apply" component={MyApplications} />
                <Route path="/apply/new" component={ApplyForm} />
                <Route path="/apply/:id" component={MyApplication} />
              </Router>
            );
          const account = mainAccount(d);
          if (!account)
            return (
              <p class="card">
                {t('cust.noaccount')} <a href="/customer/apply">{t('yk.new')}</a>
              </p>
            );
          return (
            <>
              <p class="muted">
                {d.customer.name} · {t('cust.account')} {account.number}
              </p>
              <Router>
                <Route path="/" component={Overview} account={account} areaId={d.customer.transformer_area_id} />
                <Route path="/usage" component={Usage} account={account} />
                <Route path="/bill" component={BillView} account={account} />
                <Route path="/bills" component={IssuedBills} account={account} />
                <Route path="/compare" component={Compare} account={account} />
                <Route path="/ledger" component={Ledger} account={account} />
                <Route path="/topup" component={TopUp} account={account} />
                <Route path="/orders" component={MyOrders} />
                <Route path="/orders/new" component={ReportOrder} accountId={account.id} address={d.customer.address} />
                <Route path="/orders/:id" component={MyOrder} />
                <Route path="/changes" component={MyChanges} account={account} accounts={d.accounts} category={d.customer.category} />
                <Route path="/manager" component={MyManager} />
                <Route path="/survey" component={Survey} />
              </Router>
            </>
          );
        }}
      </Show>
    </>
  );
}
