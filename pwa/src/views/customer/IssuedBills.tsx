// The customer's issued monthly bills (postpaid): the list with due date, paid or owed and late
// fees; one bill with its lines, printable (the browser's print, CSS @media print) and as a PDF.
import { useState } from 'preact/hooks';
import { kwh, lang, t, yuan } from '../../i18n';
import { Show, useAsync } from '../common';
import { lineText } from './Bill';
import { type Account, downloadBillPdf, type IssuedBill, issuedBills } from './data';

function Status({ b }: { b: IssuedBill }) {
  return b.paid ? (
    <span data-testid="issued-status">{t('cust.issued.paid')}</span>
  ) : (
    <span class="error" data-testid="issued-status">
      {t('cust.issued.owed', { amount: yuan(b.owed_fen) })}
    </span>
  );
}

function OneBill({ b, close }: { b: IssuedBill; close: () => void }) {
  const [failed, setFailed] = useState(false);
  const periods = b.lines.some((l) => l.code === 'bill.energy' && l.params.period !== 'flat');
  return (
    <div class="card printable" data-testid="issued-bill">
      <h2>{t('cust.issued.title', { number: b.number, month: b.month })}</h2>
      <table>
        <tbody>
          {b.lines.map((l, i) => (
            <tr key={i} data-testid="issued-line">
              <td>{lineText(l, periods)}</td>
              <td class="num">{yuan(l.amount_fen)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">{t('cust.bill.total')}</th>
            <td class="num" data-testid="issued-total">
              {yuan(b.total_fen)}
            </td>
          </tr>
          {b.late_fee_fen > 0 && (
            <tr>
              <th scope="row">{t('cust.issued.late_fee')}</th>
              <td class="num" data-testid="issued-late-fee">
                {yuan(b.late_fee_fen)}
              </td>
            </tr>
          )}
        </tfoot>
      </table>
      <p>
        {t('cust.bill.due', { day: b.due_on })} · {kwh(b.energy_wh)} · <Status b={b} />
      </p>
      {b.revision > 0 && (
        <p class="muted" data-testid="issued-revision">
          {t('cust.issued.revision', { n: b.revision, previous: yuan(b.previous_fen ?? 0) })}
        </p>
      )}
      {failed && (
        <p class="error no-print" role="alert">
          {t('cust.issued.pdf_failed')}
        </p>
      )}
      <div class="row no-print">
        <button type="button" onClick={() => window.print()}>
          {t('cust.issued.print')}
        </button>
        <button
          type="button"
          onClick={() => {
            setFailed(false);
            downloadBillPdf(b, lang.value).catch(() => setFailed(true));
          }}
        >
          {t('cust.issued.pdf')}
        </button>
        <button type="button" onClick={close}>
          {t('cust.issued.back')}
        </button>
      </div>
    </div>
  );
}

export function IssuedBills({ account }: { account: Account }) {
  const state = useAsync(() => issuedBills(account.id), [account.id]);
  const [open, setOpen] = useState<number | null>(null);
  return (
    <section aria-labelledby="issued-title">
      <h1 id="issued-title" class="no-print">
        {t('cust.issued')}
      </h1>
      <Show state={state}>
        {({ items, owed_fen, late_fee_fen }) => {
          const shown = items.find((b) => b.id === open);
          if (shown) return <OneBill b={shown} close={() => setOpen(null)} />;
          if (items.length === 0) return <p class="muted">{t('cust.issued.none')}</p>;
          return (
            <>
              <p data-testid="issued-owed">
                {t('cust.issued.summary', { owed: yuan(owed_fen), fees: yuan(late_fee_fen) })}
              </p>
              <table data-testid="issued-bills">
                <thead>
                  <tr>
                    <th scope="col">{t('cust.issued.month')}</th>
                    <th scope="col" class="num">
                      {t('cust.bill.total')}
                    </th>
                    <th scope="col">{t('cust.issued.due')}</th>
                    <th scope="col">{t('cust.issued.state')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((b) => (
                    <tr key={b.id} data-testid="issued-row">
                      <td>
                        <button type="button" class="link" onClick={() => setOpen(b.id)}>
                          {b.month}
                        </button>
                      </td>
                      <td class="num">{yuan(b.total_fen)}</td>
                      <td>{b.due_on}</td>
                      <td>
                        <Status b={b} />
                        {b.late_fee_fen > 0 && (
                          <div class="muted">{t('cust.issued.fee', { amount: yuan(b.late_fee_fen) })}</div>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          );
        }}
      </Show>
    </section>
  );
}
