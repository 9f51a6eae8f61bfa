// Offline meters and the collection success rate (采集成功率); commands live in Commands.tsx.
import { t, when } from '../../i18n';
import { Show, useAsync } from '../common';
import { collectionRate, offlineMeters } from './data';

export function OfflineMeters() {
  const state = useAsync(offlineMeters, [], 30_000);
  return (
    <section aria-labelledby="offline-title">
      <h1 id="offline-title">{t('op.offline')}</h1>
      <Show state={state}>
        {({ items, total }) =>
          items.length === 0 ? (
            <p class="ok">{t('op.offline.none')}</p>
          ) : (
            <>
              <p class="muted">{t('op.offline.count', { n: total })}</p>
              <table data-testid="offline-meters">
                <thead>
                  <tr>
                    <th scope="col">{t('insp.meter')}</th>
                    <th scope="col">{t('op.agent')}</th>
                    <th scope="col">{t('op.lastseen')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((m) => (
                    <tr key={m.id}>
                      <td>{m.meter_id}</td>
                      <td>{m.agent_id ?? '—'}</td>
                      <td>{m.last_seen_at ? when(m.last_seen_at) : t('op.never')}</td>
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

const pct = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)}%`);

export function CollectionRate() {
  const state = useAsync(() => collectionRate(7));
  return (
    <section aria-labelledby="rate-title">
      <h1 id="rate-title">{t('op.rate')}</h1>
      <p class="muted">{t('op.rate.help')}</p>
      <Show state={state}>
        {(rows) => {
          const expected = rows.reduce((s, r) => s + r.expected, 0);
          const collected = rows.reduce((s, r) => s + r.collected, 0);
          return (
            <>
              <p class="card">
                <span class="big" data-testid="rate">
                  {pct(expected ? collected / expected : null)}
                </span>
                <span class="muted"> {t('op.rate.week', { collected, expected })}</span>
              </p>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('op.day')}</th>
                    <th scope="col" class="num">
                      {t('op.rate.collected')}
                    </th>
                    <th scope="col" class="num">
                      {t('op.rate')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={`${r.day}-${r.group_code}`}>
                      <td>{r.day}</td>
                      <td class="num">
                        {r.collected}/{r.expected}
                      </td>
                      <td class="num">{pct(r.rate)}</td>
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
