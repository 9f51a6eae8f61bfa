// Postpaid arrears (欠费) with ageing: each account with a bill unpaid past its due date, its
// unpaid amounts by days past due (1–30, 31–60, 61–90, over 90) and late fees; totals per grid.
import { useState } from 'preact/hooks';
import { t, yuan } from '../../i18n';
import { get } from '../../lib/api';
import { Show, useAsync } from '../common';

interface Ageing {
  d0_30_fen: number;
  d31_60_fen: number;
  d61_90_fen: number;
  over_90_fen: number;
  late_fee_fen: number;
  total_fen: number;
}
interface Row {
  account_id: number;
  account_number: string;
  customer_name: string;
  grid_id: number | null;
  oldest_due_on: string;
  days_past_due: number;
  ageing: Ageing;
}
interface Group {
  id: number | null;
  accounts: number;
  ageing: Ageing;
}
interface ArrearsPage {
  on: string;
  items: Row[];
  total: number;
  limit: number;
  offset: number;
  by_grid: Group[];
  ageing: Ageing;
}

const PAGE = 50;
const BUCKETS: (keyof Ageing)[] = ['d0_30_fen', 'd31_60_fen', 'd61_90_fen', 'over_90_fen', 'late_fee_fen', 'total_fen'];

function Cells({ a }: { a: Ageing }) {
  return (
    <>
      {BUCKETS.map((k) => (
        <td key={k} class="num">
          {a[k] ? yuan(a[k]) : '—'}
        </td>
      ))}
    </>
  );
}

function Head({ first }: { first: string }) {
  return (
    <thead>
      <tr>
        <th scope="col">{first}</th>
        {BUCKETS.map((k) => (
          <th key={k} scope="col" class="num">
            {t(`op.ageing.${k}`)}
          </th>
        ))}
      </tr>
    </thead>
  );
}

export function PostpaidArrears() {
  const [offset, setOffset] = useState(0);
  const state = useAsync(() => get<ArrearsPage>(`/arrears?limit=${PAGE}&offset=${offset}`), [offset]);
  return (
    <section aria-labelledby="pp-arrears-title">
      <h1 id="pp-arrears-title">{t('op.pp_arrears')}</h1>
      <Show state={state}>
        {(p) =>
          p.total === 0 ? (
            <p class="muted">{t('op.pp_arrears.none')}</p>
          ) : (
            <>
              <p class="muted">{t('op.pp_arrears.count', { n: p.total, on: p.on })}</p>
              <table data-testid="pp-arrears">
                <Head first={t('op.customer')} />
                <tbody>
                  {p.items.map((r) => (
                    <tr key={r.account_id} data-testid="pp-arrears-row">
                      <td>
                        {r.customer_name}
                        <div class="muted">
                          <a href={`/operator/bills/${r.account_id}`}>{r.account_number}</a> ·{' '}
                          {t('op.pp_arrears.days', { n: r.days_past_due })}
                        </div>
                      </td>
                      <Cells a={r.ageing} />
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <th scope="row">{t('cust.bill.total')}</th>
                    <Cells a={p.ageing} />
                  </tr>
                </tfoot>
              </table>
              <div class="row">
                <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                  {t('op.pp_arrears.prev')}
                </button>
                <button type="button" disabled={offset + PAGE >= p.total} onClick={() => setOffset(offset + PAGE)}>
                  {t('op.pp_arrears.next')}
                </button>
              </div>
              <h2>{t('op.pp_arrears.by_grid')}</h2>
              <table data-testid="pp-arrears-grids">
                <Head first={t('op.pp_arrears.grid')} />
                <tbody>
                  {p.by_grid.map((g) => (
                    <tr key={String(g.id)}>
                      <td>
                        {g.id === null ? t('op.pp_arrears.no_grid') : `#${g.id}`} · {g.accounts}
                      </td>
                      <Cells a={g.ageing} />
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
