// Transformer areas (台区): live outage state, yesterday's line loss, voltage quality, load
// against the transformer, reliability. docs/areas.md explains each figure.
import { useState } from 'preact/hooks';
import { kwh, label, t, when } from '../../i18n';
import { ErrorBox, Show, useAsync } from '../common';
import { type Area, areaOutages, areas, demand, detectSuspicions, drill, feederOutages, load, losses, quality, reliability, suspicions } from './areas';

const pct = (rate: number | null, digits = 1) => (rate === null ? '—' : `${(rate * 100).toFixed(digits)}%`);

export function Areas() {
  const state = useAsync(areas, [], 10_000);
  const [open, setOpen] = useState<number | null>(null);
  return (
    <section aria-labelledby="areas-title">
      <h1 id="areas-title">{t('areas.title')}</h1>
      <p class="muted">{t('areas.help')}</p>
      <Show state={state}>
        {(items) => (
          <table data-testid="areas">
            <thead>
              <tr>
                <th scope="col">{t('areas.area')}</th>
                <th scope="col">{t('areas.supply')}</th>
                <th scope="col">{t('areas.state')}</th>
                <th scope="col" class="num">{t('areas.loss')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((a) => (
                <AreaRow key={a.id} a={a} open={open === a.id} toggle={() => setOpen(open === a.id ? null : a.id)} reload={state.reload} />
              ))}
            </tbody>
          </table>
        )}
      </Show>
      <Outages />
      <h2>{t('areas.abnormal')}</h2>
      <LossList />
      <Suspicions />
      <ReliabilityTable />
    </section>
  );
}

function AreaRow({ a, open, toggle, reload }: { a: Area; open: boolean; toggle: () => void; reload: () => void }) {
  const o = a.outage;
  return (
    <>
      <tr data-testid={`area-${a.code}`}>
        <td>
          <button type="button" class="link" aria-expanded={open} onClick={toggle}>
            {a.code} {a.name}
          </button>
          <div class="muted">{t('areas.meters', { n: a.meters })}</div>
          {a.unknown_meters > 0 && (
            <div class="warn" data-testid="unknown-meters">
              {t('areas.unknown', { n: a.unknown_meters })}
            </div>
          )}
        </td>
        <td>
          {a.feeder_code ?? '—'}
          {a.substation_code ? ` · ${a.substation_code}` : ''}
          <div class="muted">{a.rated_kva ? `${a.rated_kva} kVA` : ''}</div>
        </td>
        <td data-testid="outage-state" class={o ? 'error' : 'ok'}>
          {o
            ? t('areas.outage.on', { off: o.meters_off, meters: o.meters, customers: o.customers, since: when(o.started_at) })
            : t('areas.outage.none')}
        </td>
        <td class="num" data-testid="loss">
          {a.loss ? pct(a.loss.rate, 2) : '—'}
          {a.loss && <div class={a.loss.state === 'normal' ? 'muted' : 'warn'}>{label('areas.loss', a.loss.state)}</div>}
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={4}>
            <AreaDetail a={a} reload={reload} />
          </td>
        </tr>
      )}
    </>
  );
}

function AreaDetail({ a, reload }: { a: Area; reload: () => void }) {
  const q = useAsync(() => quality(a.id), [a.id]);
  const l = useAsync(() => load(a.id), [a.id], 30_000);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const cut = async (restore: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await drill(a.id, restore);
      reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="card" data-testid="area-detail">
      <p>
        {t('areas.total', { meter: a.total_meter_id ?? '—', ct: a.ct_ratio, pt: a.pt_ratio })}
      </p>
      <h2>{t('areas.quality')}</h2>
      <Show state={q}>
        {(x) => (
          <p data-testid="quality">
            {t('areas.quality.rate', { rate: pct(x.rate, 2), within: x.within, samples: x.samples, above: x.above, below: x.below })}
            {x.unbalance_max !== null && <span> · {t('areas.unbalance', { rate: pct(x.unbalance_max) })}</span>}
            {x.worst.length > 0 && (
              <span class="muted"> · {t('areas.worst', { meters: x.worst.slice(0, 3).map((w) => `${w.meter_id} ${pct(w.rate)}`).join(', ') })}</span>
            )}
          </p>
        )}
      </Show>
      <h2>{t('areas.load')}</h2>
      <Show state={l}>
        {(x) => (
          <p data-testid="load" class={x.overloaded ? 'error' : undefined}>
            {x.peak_w === null
              ? t('areas.load.none')
              : t('areas.load.peak', { kw: (x.peak_w / 1000).toFixed(1), at: when(x.peak_at ?? 0), rate: pct(x.load_rate), kva: x.rated_kva })}
            {x.overloaded && ` · ${t('areas.load.over')}`}
          </p>
        )}
      </Show>
      <DemandTrend id={a.id} />
      <div class="actions">
        <button type="button" disabled={busy} onClick={() => void cut(false)} data-testid="drill-cut">
          {t('areas.drill.cut')}
        </button>
        <button type="button" disabled={busy} onClick={() => void cut(true)} data-testid="drill-restore">
          {t('areas.drill.restore')}
        </button>
      </div>
      {error !== null && <ErrorBox error={error} />}
    </div>
  );
}

function FeederOutages() {
  const state = useAsync(feederOutages, [], 10_000);
  return (
    <Show state={state}>
      {(items) =>
        items.length === 0 ? null : (
          <>
            <h2>{t('areas.feeders')}</h2>
            <ul class="list" data-testid="feeder-outages">
              {items.map((f) => (
                <li key={f.id} class={f.ended_at === null ? 'error' : undefined}>
                  {f.ended_at === null
                    ? t('areas.feeder.open', { feeder: f.feeder_code, name: f.feeder_name, areas: f.areas.length, since: when(f.started_at) })
                    : t('areas.feeder.closed', { feeder: f.feeder_code, name: f.feeder_name, areas: f.areas.length, from: when(f.started_at), to: when(f.ended_at) })}
                  <div class="muted">{f.areas.map((a) => `${a.area_code} ${a.area_name}`).join(' · ')}</div>
                  {f.work_order_id !== null && (
                    <div class="muted" data-testid="feeder-order">
                      {t('areas.feeder.order', { order: f.work_order_id })}
                    </div>
                  )}
                </li>
              ))}
            </ul>
          </>
        )
      }
    </Show>
  );
}

function Outages() {
  const state = useAsync(areaOutages, [], 10_000);
  return (
    <>
      <FeederOutages />
      <h2>{t('areas.outages')}</h2>
      <Show state={state}>
        {(items) =>
          items.length === 0 ? (
            <p class="muted">{t('areas.outages.none')}</p>
          ) : (
            <ul class="list" data-testid="area-outages">
              {items.map((o) => (
                <li key={o.id} class={o.ended_at === null ? 'error' : undefined}>
                  <strong>{o.area_code} {o.area_name}</strong> · {label('areas.cause', o.cause)}
                  <div>
                    {o.ended_at === null
                      ? t('areas.outage.open', { since: when(o.started_at), off: o.meters_off, customers: o.customers })
                      : t('areas.outage.closed', { from: when(o.started_at), to: when(o.ended_at), customers: o.customers })}
                  </div>
                  <div class="muted" data-testid="outage-signal">
                    {t('areas.outage.sources', { sources: o.sources.map((s) => label('areas.signal', s)).join(', ') })}
                    {o.suspected && <> · <span class="warn">{t('areas.outage.suspected')}</span></>}
                    {o.work_order_id !== null && <> · {t('areas.outage.order', { order: o.work_order_id })}</>}
                  </div>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </>
  );
}

// 需量趋势: each month's maximum demand against the transformer, and its overloaded days
function DemandTrend({ id }: { id: number }) {
  const state = useAsync(() => demand(id), [id]);
  return (
    <>
      <h2>{t('areas.demand')}</h2>
      <Show state={state}>
        {(d) =>
          d.months.length === 0 ? (
            <p class="muted">{t('areas.demand.none')}</p>
          ) : (
            <table data-testid="demand">
              <thead>
                <tr>
                  <th scope="col">{t('areas.demand.month')}</th>
                  <th scope="col" class="num">{t('areas.demand.peak')}</th>
                  <th scope="col" class="num">{t('areas.demand.rate')}</th>
                  <th scope="col" class="num">{t('areas.demand.over')}</th>
                </tr>
              </thead>
              <tbody>
                {d.months.map((m) => (
                  <tr key={m.period} class={m.overloaded ? 'error' : undefined}>
                    <td>{m.period}</td>
                    <td class="num">{(m.peak_w / 1000).toFixed(1)} kW</td>
                    <td class="num">{pct(m.load_rate)}</td>
                    <td class="num">{d.days.filter((x) => x.period.startsWith(m.period) && x.overloaded).length}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}

// 窃电/故障嫌疑: meters whose use fell while their area's loss rose, each with its inspection task
function Suspicions() {
  const state = useAsync(suspicions, []);
  const [busy, setBusy] = useState(false);
  const [found, setFound] = useState<number | null>(null);
  async function run() {
    setBusy(true);
    try {
      setFound((await detectSuspicions()).new.length);
      state.reload();
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <h2>{t('areas.theft')}</h2>
      <p class="muted">{t('areas.theft.help')}</p>
      <button type="button" disabled={busy} onClick={() => void run()} data-testid="detect-theft">
        {t('areas.theft.detect')}
      </button>
      {found !== null && <p role="status">{t('areas.theft.found', { n: found })}</p>}
      <Show state={state}>
        {(rows) => (
          <ul class="list" data-testid="suspicions">
            {rows.length === 0 && <li class="muted">{t('areas.theft.none')}</li>}
            {rows.map((r) => (
              <li key={r.id}>
                {r.day} {r.area_code} · {r.meter_id} ·{' '}
                {t('areas.theft.row', {
                  before: kwh(r.baseline_wh_per_day),
                  after: kwh(r.recent_wh_per_day),
                  from: pct(r.loss_rate_before),
                  to: pct(r.loss_rate_after),
                })}{' '}
                · {label('areas.task', r.task_status)}
              </li>
            ))}
          </ul>
        )}
      </Show>
    </>
  );
}

function ReliabilityTable() {
  const state = useAsync(() => reliability(30), []);
  return (
    <>
      <h2>{t('areas.reliability')}</h2>
      <p class="muted">{t('areas.reliability.help')}</p>
      <Show state={state}>
        {(rows) => (
          <table data-testid="reliability">
            <thead>
              <tr>
                <th scope="col">{t('areas.area')}</th>
                <th scope="col" class="num">SAIFI</th>
                <th scope="col" class="num">SAIDI (h)</th>
                <th scope="col" class="num">RS-3</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.scope}${r.id}`}>
                  <td>
                    {label('areas.scope', r.scope)} {r.code}
                  </td>
                  <td class="num">{r.saifi?.toFixed(3) ?? '—'}</td>
                  <td class="num">{r.saidi_hours?.toFixed(2) ?? '—'}</td>
                  <td class="num">{pct(r.rs3, 3)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
    </>
  );
}

export function LossList() {
  const state = useAsync(() => losses(7), []);
  return (
    <Show state={state}>
      {(rows) => (
        <ul class="list">
          {rows.filter((r) => r.state !== 'normal').length === 0 && <li class="muted">{t('areas.abnormal.none')}</li>}
          {rows
            .filter((r) => r.state !== 'normal')
            .map((r) => (
              <li key={`${r.transformer_area_id}-${r.day}`}>
                {r.day} {r.area_code} {pct(r.rate, 2)} {label('areas.loss', r.state)} {r.loss_wh !== null ? kwh(r.loss_wh) : ''}
              </li>
            ))}
        </ul>
      )}
    </Show>
  );
}
