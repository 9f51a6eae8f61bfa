// The customer's side of 业扩报装: apply for electricity, upload the documents the type needs,
// and follow the application step by step with each step's deadline.
import { useLocation, useRoute } from 'preact-iso';
import { useMemo, useState } from 'preact/hooks';
import { label, t } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import { apply, application, applications, applyKey, type Application, CATEGORIES, type SupplyType, uploadDocument } from './data';
import { Due, Heading, History, Steps, Withdraw } from './parts';

export function MyApplications() {
  const state = useAsync(() => applications(), [], 30_000);
  return (
    <section aria-labelledby="yk-mine-title">
      <div class="row spread">
        <h1 id="yk-mine-title">{t('yk.mine')}</h1>
        <a class="button primary" href="/customer/apply/new" data-testid="yk-new">
          {t('yk.new')}
        </a>
      </div>
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('yk.none')}</p>
          ) : (
            <ul class="list" data-testid="yk-mine">
              {items.map((a) => (
                <li key={a.id}>
                  <a href={`/customer/apply/${a.id}`}>
                    <strong>
                      {label('yk.type', a.supply_type)} · {a.number}
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

export function ApplyForm() {
  const { route } = useLocation();
  const key = useMemo(applyKey, []);
  const [type, setType] = useState<SupplyType>('residential');
  const [category, setCategory] = useState('residential');
  const [name, setName] = useState('');
  const [phone, setPhone] = useState('');
  const [address, setAddress] = useState('');
  const [capacity, setCapacity] = useState('8');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    try {
      const a = await apply({ supply_type: type, category, applicant_name: name.trim(), phone: phone.trim(), address: address.trim(), capacity_kva: Number(capacity) }, key);
      route(`/customer/apply/${a.id}`);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="yk-apply-title">
      <h1 id="yk-apply-title">{t('yk.new')}</h1>
      <label>
        {t('yk.form.type')}
        <select
          name="supply_type"
          value={type}
          onChange={(e) => {
            const v = e.currentTarget.value as SupplyType;
            setType(v);
            setCategory(CATEGORIES[v][0]);
          }}
        >
          {(Object.keys(CATEGORIES) as SupplyType[]).map((k) => (
            <option key={k} value={k}>
              {label('yk.type', k)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('yk.form.category')}
        <select name="category" value={category} onChange={(e) => setCategory(e.currentTarget.value)}>
          {CATEGORIES[type].map((c) => (
            <option key={c} value={c}>
              {label('yk.category', c)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('yk.form.name')}
        <input name="applicant_name" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        {t('yk.form.phone')}
        <input name="phone" type="tel" maxLength={32} value={phone} onInput={(e) => setPhone(e.currentTarget.value)} required />
      </label>
      <label>
        {t('yk.form.address')}
        <input name="address" maxLength={200} value={address} onInput={(e) => setAddress(e.currentTarget.value)} required />
      </label>
      <label>
        {t('yk.form.capacity')}
        <input name="capacity_kva" type="number" min={1} value={capacity} onInput={(e) => setCapacity(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={busy}>
        {t('yk.form.send')}
      </button>
    </form>
  );
}

export function Documents({ a, changed }: { a: Application; changed: (a: Application) => void }) {
  const [error, setError] = useState('');
  if (a.status !== 'open') return null;
  return (
    <section class="card" aria-labelledby="yk-docs-title">
      <h2 id="yk-docs-title">{a.missing_documents.length ? t('yk.missing') : t('yk.docs')}</h2>
      <p class="muted">{t('yk.upload.hint')}</p>
      <ul class="list" data-testid="yk-missing">
        {a.missing_documents.map((d) => (
          <li key={d}>
            <label>
              {label('yk.doc', d)}
              <input
                type="file"
                name={`doc-${d}`}
                accept="image/jpeg,image/png,image/webp,application/pdf"
                onChange={async (e) => {
                  const file = e.currentTarget.files?.[0];
                  if (!file) return;
                  try {
                    changed(await uploadDocument(a.id, d, file));
                    setError('');
                  } catch (err) {
                    setError(errorText(err));
                  }
                }}
              />
            </label>
          </li>
        ))}
      </ul>
      {a.documents.length > 0 && <p data-testid="yk-docs">{a.documents.map((d) => label('yk.doc', d.kind)).join('、')}</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

export function MyApplication() {
  const { params } = useRoute();
  const id = Number(params.id);
  const state = useAsync(() => application(id), [id], 30_000);
  const [fresh, setFresh] = useState<Application | null>(null);
  return (
    <Show state={state}>
      {(loaded) => {
        const a = fresh && fresh.version >= loaded.version ? fresh : loaded;
        return (
          <article data-testid="yk-application">
            <Heading a={a} />
            <Documents a={a} changed={setFresh} />
            <Withdraw a={a} done={setFresh} reasons={['customer_request']} />
            <Steps a={a} />
            <History a={a} />
          </article>
        );
      }}
    </Show>
  );
}
