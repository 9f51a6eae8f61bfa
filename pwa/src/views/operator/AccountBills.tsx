// One account's issued bills and every revision of them (staff): month, number, total, what a
// revision replaced, paid or owed, late fees; a bill opens with its lines and as a PDF.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { lang, t, yuan } from '../../i18n';
import { get } from '../../lib/api';
import { Show, useAsync } from '../common';
import { lineText } from '../customer/Bill';
import { downloadBillPdf, type IssuedBill } from '../customer/data';

function state(b: IssuedBill): string {
  if (b.superseded) return t('op.bills.superseded');
  return b.paid ? t('cust.issued.paid') : t('cust.issued.owed', { amount: yuan(b.owed_fen) });
}

export function AccountBills() {
  const { params } = useRoute();
  const id = Number(params.id);
  const data = useAsync(
    () => get<{ items: IssuedBill[]; owed_fen: number; late_fee_fen: number }>(`/accounts/${id}/bill-revisions`),
    [id],
  );
  const [open, setOpen] = useState<number | null>(null);
  return (
    <section aria-labelledby="op-bills-title">
      <h1 id="op-bills-title">{t('op.bills')}</h1>
      <Show state={data}>
        {({ items, owed_fen, late_fee_fen }) =>
          items.length === 0 ? (
            <p class="muted">{t('cust.issued.none')}</p>
          ) : (
            <>
              <p data-testid="op-bills-owed">{t('cust.issued.summary', { owed: yuan(owed_fen), fees: yuan(late_fee_fen) })}</p>
              <table data-testid="op-bills">
                <thead>
                  <tr>
                    <th scope="col">{t('cust.issued.month')}</th>
                    <th scope="col">{t('op.bills.number')}</th>
                    <th scope="col" class="num">
                      {t('cust.bill.total')}
                    </th>
                    <th scope="col">{t('cust.issued.due')}</th>
                    <th scope="col">{t('cust.issued.state')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((b) => (
                    <Fragment key={b.id}>
                      <tr data-testid="op-bills-row">
                        <td>{b.month}</td>
                        <td>
                          <button type="button" class="link" onClick={() => setOpen(open === b.id ? null : b.id)}>
                            {b.number}
                          </button>
                          {b.previous_fen !== null && (
                            <div class="muted">{t('op.bills.replaced', { n: b.revision, previous: yuan(b.previous_fen) })}</div>
                          )}
                        </td>
                        <td class="num">{yuan(b.total_fen)}</td>
                        <td>{b.due_on}</td>
                        <td data-testid="op-bills-state">
                          {state(b)}
                          {b.late_fee_fen > 0 && <div class="muted">{t('cust.issued.fee', { amount: yuan(b.late_fee_fen) })}</div>}
                        </td>
                      </tr>
                      {open === b.id && (
                        <tr data-testid="op-bills-lines">
                          <td colSpan={5}>
                            <ul>
                              {b.lines.map((l, i) => (
                                <li key={i}>
                                  {lineText(
                                    l,
                                    b.lines.some((x) => x.code === 'bill.energy' && x.params.period !== 'flat'),
                                  )}{' '}
                                  {yuan(l.amount_fen)}
                                </li>
                              ))}
                            </ul>
                            <button type="button" onClick={() => void downloadBillPdf(b, lang.value)}>
                              {t('cust.issued.pdf')}
                            </button>
                          </td>
                        </tr>
                      )}
                    </Fragment>
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
