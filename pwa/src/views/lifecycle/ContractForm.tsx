// The other changes of an account, one form: a change of name of the same holder (更名), a
// capacity change (增容/减容), a suspension (暂停) and its resumption (恢复), moving out and in
// (迁出/迁入) and a temporary supply's last day (临时用电). The fields follow the kind.
import { useMemo, useState } from 'preact/hooks';
import { label, t } from '../../i18n';
import { errorText } from '../common';
import type { Account } from '../customer/data';
import { changeKey, requestChange, today } from './data';
import type { ChangeBody } from './data';

const KINDS = ['move', 'suspension', 'resumption', 'capacity', 'name', 'temporary'] as const;
type Kind = (typeof KINDS)[number];

export function ContractForm({ account, done }: { account: Account; done: () => void }) {
  const key = useMemo(changeKey, []);
  const [kind, setKind] = useState<Kind>('move');
  const [day, setDay] = useState(today());
  const [until, setUntil] = useState('');
  const [name, setName] = useState('');
  const [doc, setDoc] = useState('');
  const [kva, setKva] = useState('');
  const [address, setAddress] = useState('');
  const [refund, setRefund] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  function body(): ChangeBody {
    const id = account.id;
    switch (kind) {
      case 'name':
        return { kind, account_id: id, holder_name: name.trim(), id_document: doc.trim(), effective_from: day };
      case 'capacity':
        return { kind, account_id: id, capacity_kva: Number(kva), effective_from: day };
      case 'suspension':
        return { kind, account_id: id, effective_from: day, until };
      case 'resumption':
        return { kind, account_id: id, effective_from: day };
      case 'temporary':
        return { kind, account_id: id, until };
      default:
        return { kind: 'move', account_id: id, address: address.trim(), settlement: refund ? 'refund' : 'transfer' };
    }
  }
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await requestChange(body(), `${key}-${kind}`);
      done();
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  }
  const needsDay = kind === 'name' || kind === 'capacity' || kind === 'suspension' || kind === 'resumption';
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="contract-title" data-testid="contract-form">
      <h2 id="contract-title">{t('change.contract.title')}</h2>
      <p class="muted">{t('change.contract.explain')}</p>
      <label>
        {t('change.contract.kind')}
        <select name="contract_kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {label('change.kind', k)}
            </option>
          ))}
        </select>
      </label>
      {kind === 'move' && (
        <>
          <label>
            {t('change.move.address')}
            <input name="address" maxLength={200} value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
          </label>
          <label>
            {t('change.closure.credit')}
            <select name="move_settlement" value={refund ? 'refund' : 'transfer'} onChange={(e) => setRefund(e.currentTarget.value === 'refund')}>
              <option value="transfer">{label('change.settlement', 'transfer_new')}</option>
              <option value="refund">{label('change.settlement', 'refund')}</option>
            </select>
          </label>
        </>
      )}
      {kind === 'name' && (
        <>
          <label>
            {t('change.name.name')}
            <input name="holder_name" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            {t('change.name.document')}
            <input name="id_document" maxLength={64} value={doc} onInput={(e) => setDoc(e.currentTarget.value)} />
          </label>
        </>
      )}
      {kind === 'capacity' && (
        <label>
          {t('change.capacity.kva')}
          <input name="capacity_kva" type="number" min={1} value={kva} onInput={(e) => setKva(e.currentTarget.value)} />
        </label>
      )}
      {needsDay && (
        <label>
          {t('change.effective_from')}
          <input name="contract_effective_from" type="date" value={day} onInput={(e) => setDay(e.currentTarget.value)} />
        </label>
      )}
      {(kind === 'suspension' || kind === 'temporary') && (
        <label>
          {kind === 'suspension' ? t('change.suspension.until') : t('change.temporary.until')}
          <input name="until" type="date" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </label>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={busy} data-testid="request-contract">
        {t('change.send')}
      </button>
    </form>
  );
}
