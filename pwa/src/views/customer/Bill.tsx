// A month's bill: each line worded from its code and parameters ("第一档 2,880 kWh × 0.4883 元"),
// its amount, the total (the lines sum to it), the due date and the month's power factor.
import { useState } from 'preact/hooks';
import { kwh, t, yuan } from '../../i18n';
import { Show, useAsync } from '../common';
import { type Account, type BillLine, bill } from './data';

function monthOf(back: number): string {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - back);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

function tierName(n: number): string {
  const key = `bill.tier.${n}`;
  const named = t(key);
  return named === key ? t('bill.tier', { n }) : named;
}

/** One bill line in the reader's language; ``periods`` false: a tariff without time of use. */
export function lineText(line: BillLine, periods: boolean): string {
  const p = line.params;
  switch (line.code) {
    case 'bill.energy':
      return t('bill.energy', {
        tier: tierName(Number(p.tier)),
        period: periods ? ` ${t(`bill.period.${p.period}`)}` : '',
        kwh: kwh(Number(p.energy_wh), Number(p.energy_wh) % 1000 === 0 ? 0 : 3),
        price: String(p.price),
      });
    case 'bill.basic.demand':
      return t('bill.basic.demand', { kw: (Number(p.demand_w) / 1000).toLocaleString(), price: String(p.price) });
    case 'bill.power_factor':
      return t('bill.power_factor', { ...p, base: Number(p.base).toFixed(2) });
    default:
      return t(line.code, p);
  }
}

export function BillView({ account }: { account: Account }) {
  const [back, setBack] = useState(0);
  const month = monthOf(back);
  const state = useAsync(() => bill(account.id, month), [account.id, month]);
  return (
    <section aria-labelledby="bill-title">
      <h1 id="bill-title">{t('cust.bill', { month })}</h1>
      <div class="row">
        <button type="button" aria-pressed={back === 0} onClick={() => setBack(0)}>
          {t('cust.bill.this')}
        </button>
        <button type="button" aria-pressed={back === 1} onClick={() => setBack(1)}>
          {t('cust.bill.last')}
        </button>
      </div>
      <Show state={state}>
        {(b) => {
          if (b.lines.length === 0) return <p class="muted">{t('cust.bill.empty')}</p>;
          const periods = b.lines.some((l) => l.code === 'bill.energy' && l.params.period !== 'flat');
          return (
            <div class="card">
              <table data-testid="bill">
                <tbody>
                  {b.lines.map((l, i) => (
                    <tr key={i} data-testid="bill-line">
                      <td>{lineText(l, periods)}</td>
                      <td class="num">{yuan(l.amount_fen)}</td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <th scope="row">{t('cust.bill.total')}</th>
                    <td class="num" data-testid="bill-total">
                      {yuan(b.total_fen)}
                    </td>
                  </tr>
                </tfoot>
              </table>
              <p data-testid="bill-due">{t('cust.bill.due', { day: b.due_on })}</p>
              {b.power_factor && <p class="muted">{t('cust.bill.pf', { factor: b.power_factor })}</p>}
            </div>
          );
        }}
      </Show>
    </section>
  );
}
