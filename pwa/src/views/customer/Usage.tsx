// Daily and monthly consumption as uPlot bar charts (this chunk loads only when opened), with
// the current tariff tier (阶梯) and the same numbers as a table for screen readers.
import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { day, kwh, lang, t } from '../../i18n';
import { Show, useAsync } from '../common';
import { type Account, daily, monthly } from './data';
import { TierCard } from './Tier';

interface Series {
  labels: string[];
  wh: number[];
}

function BarChart({ series, title }: { series: Series; title: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    const xs = series.labels.map((_, i) => i);
    const ys = series.wh.map((w) => w / 1000);
    const plot = new uPlot(
      {
        width: Math.max(280, node.clientWidth),
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          { values: (_u, ticks) => ticks.map((i) => series.labels[i] ?? ''), stroke: '#4a5563', grid: { show: false } },
          { label: 'kWh', stroke: '#4a5563', size: 50 },
        ],
        series: [{}, { label: 'kWh', fill: '#0b5cad', stroke: '#0b5cad', paths: uPlot.paths.bars!({ size: [0.7, 40] }), points: { show: false } }],
      },
      [xs, ys],
      node,
    );
    const resize = () => plot.setSize({ width: Math.max(280, node.clientWidth), height: 220 });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [series, lang.value]);
  return (
    <figure class="card">
      <figcaption>
        <h2>{title}</h2>
      </figcaption>
      <div ref={el} class="chart" aria-hidden="true" />
      <details>
        <summary>{t('cust.usage.table')}</summary>
        <table>
          <tbody>
            {series.labels.map((l, i) => (
              <tr key={l}>
                <th scope="row">{l}</th>
                <td class="num">{kwh(series.wh[i])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

export function Usage({ account }: { account: Account }) {
  const days = useAsync(() => daily(account.id), [account.id]);
  const months = useAsync(() => monthly(account.id), [account.id]);
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">{t('cust.usage')}</h1>
      <TierCard account={account} />
      <Show state={days}>
        {(rows) =>
          rows.length === 0 ? (
            <p class="muted">{t('cust.usage.none')}</p>
          ) : (
            <BarChart title={t('cust.usage.daily')} series={{ labels: rows.map((r) => day(`${r.day}T12:00:00`)), wh: rows.map((r) => r.wh) }} />
          )
        }
      </Show>
      <Show state={months}>
        {(rows) =>
          rows.length === 0 ? null : <BarChart title={t('cust.usage.monthly')} series={{ labels: rows.map((r) => r.month), wh: rows.map((r) => r.wh) }} />
        }
      </Show>
    </section>
  );
}
