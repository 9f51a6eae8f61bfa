// Live command status (polled every few seconds), offline meters, and the collection success
// rate (采集成功率).
import { label, say, t, when } from '../../i18n';
import { Show, useAsync } from '../common';
import { collectionRate, commands, offlineMeters } from './data';

const POLL_MS = 3_000;


export function Commands() {
  const state = useAsync(commands, [], POLL_MS);
  return (
    <section aria-labelledby="commands-title">
      <h1 id="commands-title">{t('op.commands')}</h1>
      <p class="muted">{t('op.commands.live', { s: POLL_MS / 1000 })}</p>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('op.commands.none')}</p>
          ) : (
            <ul class="list" data-testid="commands" aria-live="polite">
              {items.map((c) => (
                <li key={c.id}>
                  <div class="item">
                    <div class="row spread">
                      <strong>
                        {label('kind', c.kind)} · {c.meter_id}
                      </strong>
                      <span class={`state ${c.terminal ? (c.state === 'verified' ? 'ok' : 'error') : 'warn'}`} data-testid="command-state">
                        {label('cmd', c.state)}
                      </span>
                    </div>
                    <div class="muted">
                      {c.reason_code ? say(c.reason_code, c.reason_params) : c.reason} · {c.actor} · {when(c.updated_at)}
                    </div>
                    {(c.error_code ?? c.error) && <div class="error">{say(c.error_code, c.error_params)}</div>}
                  </div>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

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
