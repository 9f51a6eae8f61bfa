// Edit a customer's profile (客户档案): saved over its version; a stale version is refused
// (error.profile_changed) and the form says so in the user's language.
import { useState } from 'preact/hooks';
import { label, t } from '../../i18n';
import { me } from '../../lib/api';
import { ErrorBox } from '../common';
import { type Profile, saveProfile } from './data';

const ORG_TYPES = ['government', 'public_service', 'industrial', 'commercial', 'agriculture_authority', 'residential_community', 'residential', 'other'];
const VOLTAGES = ['0.22kV', '0.4kV', '10kV', '20kV', '35kV', '110kV', '220kV'];

export const EMPTY: Profile = {
  version: 0,
  org_type: 'other',
  capacity_kva: 0,
  new_capacity_kva: 0,
  voltage_level: null,
  industry_code: '',
  households: 0,
  industrial_park: '',
  important: false,
  technical_contact: '',
  technical_phone: '',
  billing_contact: '',
  billing_phone: '',
  contract_expires_on: null,
};

export function ProfileForm({ customerId, profile, done }: { customerId: number; profile: Profile | null; done: () => void }) {
  const start = profile ?? EMPTY;
  // the type of body and "important" decide disconnect protection: the back office sets them
  const decided = me.value?.role === 'inspector';
  const [p, setP] = useState<Profile>(start);
  const [error, setError] = useState<unknown>(null);
  const set = (k: keyof Profile, v: unknown) => setP({ ...p, [k]: v });
  const text = (k: keyof Profile) => (e: Event) => set(k, (e.target as HTMLInputElement).value);
  const num = (k: keyof Profile) => (e: Event) => set(k, Number((e.target as HTMLInputElement).value || 0));
  async function submit(e: Event) {
    e.preventDefault();
    const body: Profile = {
      version: start.version,
      org_type: p.org_type,
      capacity_kva: p.capacity_kva,
      new_capacity_kva: p.new_capacity_kva,
      voltage_level: p.voltage_level || null,
      industry_code: p.industry_code.trim().toUpperCase(),
      households: p.households,
      industrial_park: p.industrial_park.trim(),
      important: p.important,
      technical_contact: p.technical_contact.trim(),
      technical_phone: p.technical_phone.trim(),
      billing_contact: p.billing_contact.trim(),
      billing_phone: p.billing_phone.trim(),
      contract_expires_on: p.contract_expires_on || null,
    };
    try {
      await saveProfile(customerId, body);
      setError(null);
      done();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={submit} class="card" data-testid="profile-form">
      <h3>{t('ka.profile.edit')}</h3>
      <label>
        {t('ka.profile.org')}
        <select name="org_type" value={p.org_type} disabled={decided} onChange={text('org_type')}>
          {ORG_TYPES.map((o) => (
            <option key={o} value={o}>
              {label('ka.org', o)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('ka.profile.capacity')} (kVA)
        <input name="capacity_kva" type="number" min={0} value={p.capacity_kva} onInput={num('capacity_kva')} />
      </label>
      <label>
        {t('ka.profile.new_capacity')} (kVA)
        <input name="new_capacity_kva" type="number" min={0} value={p.new_capacity_kva} onInput={num('new_capacity_kva')} />
      </label>
      <label>
        {t('ka.profile.voltage')}
        <select name="voltage_level" value={p.voltage_level ?? ''} onChange={text('voltage_level')}>
          <option value="">—</option>
          {VOLTAGES.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('ka.profile.industry')}
        <input name="industry_code" value={p.industry_code} maxLength={5} pattern="[A-Ta-t]([0-9]{2,4})?" onInput={text('industry_code')} />
      </label>
      <label>
        {t('ka.profile.households')}
        <input name="households" type="number" min={0} value={p.households} onInput={num('households')} />
      </label>
      <label>
        {t('ka.profile.park')}
        <input name="industrial_park" value={p.industrial_park} maxLength={100} onInput={text('industrial_park')} />
      </label>
      <label class="check">
        <input name="important" type="checkbox" checked={p.important} disabled={decided} onChange={(e) => set('important', (e.target as HTMLInputElement).checked)} /> {t('ka.profile.important')}
      </label>
      <label>
        {t('ka.profile.technical')}
        <input name="technical_contact" value={p.technical_contact} maxLength={100} onInput={text('technical_contact')} />
      </label>
      <label>
        {t('ka.profile.phone')}
        <input name="technical_phone" type="tel" value={p.technical_phone} maxLength={32} onInput={text('technical_phone')} />
      </label>
      <label>
        {t('ka.profile.billing')}
        <input name="billing_contact" value={p.billing_contact} maxLength={100} onInput={text('billing_contact')} />
      </label>
      <label>
        {t('ka.profile.phone')}
        <input name="billing_phone" type="tel" value={p.billing_phone} maxLength={32} onInput={text('billing_phone')} />
      </label>
      <label>
        {t('ka.profile.contract')}
        <input name="contract_expires_on" type="date" value={p.contract_expires_on ?? ''} onInput={text('contract_expires_on')} />
      </label>
      <button class="primary" type="submit">
        {t('ka.profile.save')}
      </button>
      {error !== null && <ErrorBox error={error} />}
    </form>
  );
}
