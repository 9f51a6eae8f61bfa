// R45: the customer's own last twelve months priced on each other schedule of their category
// (time of use against flat), the difference in yuan and a plain sentence of advice.
import { kwh, t, yuan } from '../../i18n';
import { Show, useAsync } from '../common';
import { type Account, type Comparison, compareTariff, type TariffOption, tariffOptions } from './data';

function kind(o: TariffOption): string {
  return t(o.time_of_use ? 'cust.compare.tou' : 'cust.compare.flat');
}

function advice(c: Comparison, o: TariffOption): string {
  if (c.energy_wh === 0) return t('cust.compare.nothing');
  if (c.difference_fen < 0) return t('cust.compare.cheaper', { name: o.name, amount: yuan(-c.difference_fen) });
  if (c.difference_fen > 0) return t('cust.compare.dearer', { name: o.name, amount: yuan(c.difference_fen) });
  return t('cust.compare.same', { name: o.name });
}

function Row({ account, option }: { account: Account; option: TariffOption }) {
  const state = useAsync(() => compareTariff(account.id, option), [account.id, option.schedule]);
  return (
    <div class="card" data-testid="compare-option">
      <h2>
        {option.name} <span class="muted">({kind(option)})</span>
      </h2>
      <Show state={state}>
        {(c) => (
          <>
            <table>
              <tbody>
                <tr>
                  <th scope="row">{t('cust.compare.billed')}</th>
                  <td class="num" data-testid="compare-billed">
                    {yuan(c.billed_fen)}
                  </td>
                </tr>
                <tr>
                  <th scope="row">{t('cust.compare.alternative', { name: option.name })}</th>
                  <td class="num" data-testid="compare-alternative">
                    {yuan(c.alternative_fen)}
                  </td>
                </tr>
                <tr>
                  <th scope="row">{t('cust.compare.difference')}</th>
                  <td class="num" data-testid="compare-difference">
                    {yuan(c.difference_fen)}
                  </td>
                </tr>
              </tbody>
            </table>
            <p class="muted">{t('cust.compare.span', { from: c.from_day, to: c.to_day, energy: kwh(c.energy_wh, 0) })}</p>
            <p data-testid="compare-advice">
              <strong>{advice(c, option)}</strong>
            </p>
          </>
        )}
      </Show>
    </div>
  );
}

export function Compare({ account }: { account: Account }) {
  const state = useAsync(() => tariffOptions(account.id), [account.id]);
  return (
    <section aria-labelledby="compare-title">
      <h1 id="compare-title">{t('cust.compare')}</h1>
      <Show state={state}>
        {({ items }) => {
          const current = items.find((o) => o.current);
          const others = items.filter((o) => !o.current);
          return (
            <>
              {current && (
                <p data-testid="compare-current">
                  {t('cust.compare.current', { name: current.name, kind: kind(current) })}
                </p>
              )}
              {others.length === 0 ? (
                <p class="muted">{t('cust.compare.none')}</p>
              ) : (
                others.map((o) => <Row key={o.schedule} account={account} option={o} />)
              )}
            </>
          );
        }}
      </Show>
    </section>
  );
}
