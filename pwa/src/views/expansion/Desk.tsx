// The staff's side of 业扩报装: the queue by deadline, an application's step screen (complete
// the step, record the site survey, install and energise), and the connection figures.
import { useLocation, useRoute } from 'preact-iso';
import { useState } from 'preact/hooks';
import { label, t } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import { advance, type Application, application, applications, energise, figures, survey, uploadSitePhoto, WITHDRAWAL_REASONS } from './data';
import { Due, Heading, History, Steps, Withdraw } from './parts';

export function ExpansionQueue() {
  // the back office's queue, or a customer manager's (客户经理) expansions in their grids (R113)
  const base = useLocation().path.startsWith('/inspector') ? '/inspector/expansion' : '/operator/expansion';
  const [overdue, setOverdue] = useState(false);
  const state = useAsync(() => applications(overdue), [overdue], 30_000);
  return (
    <section aria-labelledby="yk-queue-title">
      <div class="row spread">
        <h1 id="yk-queue-title">{t('yk.queue')}</h1>
        <label class="row">
          <input type="checkbox" checked={overdue} onChange={(e) => setOverdue(e.currentTarget.checked)} />
          {t('yk.queue.overdue')}
        </label>
      </div>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('yk.queue.none')}</p>
          ) : (
            <ul class="list" data-testid="yk-queue">
              {items.map((a) => (
                <li key={a.id}>
                  <a href={`${base}/${a.id}`}>
                    <strong>
                      {a.number} · {a.applicant_name} · {label('yk.type', a.supply_type)}
                    </strong>
                    <div>
                      <Due a={a} />
                    </div>
                  </a>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

function Survey({ a, done }: { a: Application; done: (a: Application) => void }) {
  const [lat, setLat] = useState('30.2741');
  const [lon, setLon] = useState('120.1551');
  const [note, setNote] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [error, setError] = useState('');
  async function submit(e: Event) {
    e.preventDefault();
    try {
      if (!file) throw new Error(t('yk.survey.photo'));
      const sha = await uploadSitePhoto(file);
      const fix = { latitude: Number(lat), longitude: Number(lon), accuracy_m: 10, fix_at: Date.now() };
      done(await survey(a.id, { version: a.version, fix, photos: [sha], note: note.trim() }));
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="yk-survey-title">
      <h2 id="yk-survey-title">{t('yk.survey')}</h2>
      <label>
        {t('yk.survey.lat')}
        <input name="latitude" inputMode="decimal" value={lat} onInput={(e) => setLat(e.currentTarget.value)} />
      </label>
      <label>
        {t('yk.survey.lon')}
        <input name="longitude" inputMode="decimal" value={lon} onInput={(e) => setLon(e.currentTarget.value)} />
      </label>
      <label>
        {t('yk.survey.photo')}
        <input name="site-photo" type="file" accept="image/jpeg,image/png,image/webp" capture="environment" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      </label>
      <label>
        {t('yk.survey.note')}
        <input name="note" maxLength={1000} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit">
        {t('yk.survey.send')}
      </button>
    </form>
  );
}

function Energise({ a, done }: { a: Application; done: (a: Application) => void }) {
  const [meter, setMeter] = useState('');
  const [protocol, setProtocol] = useState('dlt645');
  const [address, setAddress] = useState('');
  const [agent, setAgent] = useState('demo-agent');
  const [area, setArea] = useState(a.transformer_area_id === null ? '' : String(a.transformer_area_id));
  const [error, setError] = useState('');
  async function submit(e: Event) {
    e.preventDefault();
    try {
      done(await energise(a.id, { version: a.version, meter_id: meter.trim(), protocol, address: address.trim(), ...(agent.trim() ? { agent_id: agent.trim() } : {}), ...(area ? { transformer_area_id: Number(area) } : {}) }));
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="yk-energise-title">
      <h2 id="yk-energise-title">{t('yk.energise')}</h2>
      <label>
        {t('yk.energise.meter')}
        <input name="meter_id" value={meter} onInput={(e) => setMeter(e.currentTarget.value)} />
      </label>
      <label>
        {t('yk.energise.protocol')}
        <select name="protocol" value={protocol} onChange={(e) => setProtocol(e.currentTarget.value)}>
          {['dlt645', 'dlt698', 'modbus', 'manual'].map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('yk.energise.address')}
        <input name="address" value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
      </label>
      <label>
        {t('yk.energise.agent')}
        <input name="agent_id" value={agent} onInput={(e) => setAgent(e.currentTarget.value)} />
      </label>
      <label>
        {t('yk.form.area')}
        <input name="transformer_area_id" inputMode="numeric" value={area} onInput={(e) => setArea(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" data-testid="yk-energise">
        {t('yk.energise.send')}
      </button>
    </form>
  );
}

function Act({ a, done }: { a: Application; done: (a: Application) => void }) {
  const [error, setError] = useState('');
  if (a.status !== 'open') return null;
  if (a.step === 'survey') return <Survey a={a} done={done} />;
  if (a.step === 'energise') return <Energise a={a} done={done} />;
  return (
    <div class="card">
      <button
        class="primary"
        type="button"
        data-testid="yk-advance"
        onClick={async () => {
          try {
            done(await advance(a));
            setError('');
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        {t('yk.advance', { step: label('yk.step', a.step) })}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function ExpansionView() {
  const { params } = useRoute();
  const id = Number(params.id);
  const state = useAsync(() => application(id), [id]);
  const [fresh, setFresh] = useState<Application | null>(null);
  return (
    <Show state={state}>
      {(loaded) => {
        const a = fresh ?? loaded;
        return (
          <article data-testid="yk-application">
            <Heading a={a} />
            {a.missing_documents.length > 0 && (
              <p class="warn" data-testid="yk-missing">
                {t('yk.missing')}: {a.missing_documents.map((d) => label('yk.doc', d)).join('、')}
              </p>
            )}
            <Act a={a} done={setFresh} />
            <Withdraw a={a} done={setFresh} reasons={WITHDRAWAL_REASONS} />
            <Steps a={a} />
            <History a={a} />
          </article>
        );
      }}
    </Show>
  );
}

const hours = (ms: number | null) => (ms === null ? '—' : (ms / 3_600_000).toFixed(1));
const pct = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(1)}%`);

export function ExpansionFigures() {
  const state = useAsync(figures, []);
  return (
    <section aria-labelledby="yk-ind-title">
      <h1 id="yk-ind-title">{t('yk.ind.title')}</h1>
      <Show state={state}>
        {(f) => (
          <>
            <table data-testid="yk-indicators">
              <thead>
                <tr>
                  <th scope="col">{t('yk.ind.type')}</th>
                  <th scope="col" class="num">{t('yk.ind.applications')}</th>
                  <th scope="col" class="num">{t('yk.ind.energised')}</th>
                  <th scope="col" class="num">{t('yk.ind.to_energise')}</th>
                  <th scope="col" class="num">{t('yk.ind.on_time')}</th>
                </tr>
              </thead>
              <tbody>
                {f.types.map((x) => (
                  <tr key={x.supply_type}>
                    <td>{label('yk.type', x.supply_type)}</td>
                    <td class="num">{x.applications}</td>
                    <td class="num">{x.energised}</td>
                    <td class="num">{hours(x.mean_to_energise_ms)}</td>
                    <td class="num">{pct(x.on_time_rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('yk.ind.type')}</th>
                  <th scope="col">{t('yk.ind.step')}</th>
                  <th scope="col" class="num">{t('yk.ind.lead')}</th>
                  <th scope="col" class="num">{t('yk.ind.on_time')}</th>
                </tr>
              </thead>
              <tbody>
                {f.steps
                  .filter((s) => s.finished > 0)
                  .map((s) => (
                    <tr key={`${s.supply_type}-${s.step}`}>
                      <td>{label('yk.type', s.supply_type)}</td>
                      <td>{label('yk.step', s.step)}</td>
                      <td class="num">{hours(s.mean_lead_ms)}</td>
                      <td class="num">{pct(s.on_time_rate)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </>
        )}
      </Show>
    </section>
  );
}
