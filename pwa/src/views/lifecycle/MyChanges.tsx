// The customer's account changes: ask for a change of category (改类), a transfer to a new
// holder (过户) or a closure (销户) of their account, and follow each until an operator has
// approved or rejected it.
import { useMemo, useState } from 'preact/hooks';
import { label, t } from '../../i18n';
import { errorText, Show, useAsync } from '../common';
import type { Account } from '../customer/data';
import { CATEGORIES, changeKey, changes, requestChange, today } from './data';
import { ChangeSummary } from './parts';
import { ContractForm } from './ContractForm';

function CategoryForm({ account, current, done }: { account: Account; current: string; done: () => void }) {
  const key = useMemo(changeKey, []);
  const [category, setCategory] = useState(CATEGORIES.find((c) => c !== current) ?? 'commercial');
  const [day, setDay] = useState(today());
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await requestChange({ kind: 'category', account_id: account.id, category, effective_from: day, note: note.trim() }, key);
      done();
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  }
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="cat-title" data-testid="category-form">
      <h2 id="cat-title">{t('change.category.title')}</h2>
      <p class="muted">{t('change.category.now', { category: label('category', current) })}</p>
      <label>
        {t('change.category.to')}
        <select name="category" value={category} onChange={(e) => setCategory(e.currentTarget.value)}>
          {CATEGORIES.map((c) => (
            <option key={c} value={c}>
              {label('category', c)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('change.effective_from')}
        <input name="effective_from" type="date" value={day} max={today()} onInput={(e) => setDay(e.currentTarget.value)} />
      </label>
      <label>
        {t('change.note')}
        <input name="note" maxLength={500} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={busy} data-testid="request-category">
        {t('change.send')}
      </button>
    </form>
  );
}

function ClosureForm({ account, others, done }: { account: Account; others: Account[]; done: () => void }) {
  const key = useMemo(changeKey, []);
  const [target, setTarget] = useState(0); // 0: refund
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await requestChange(
        target ? { kind: 'closure', account_id: account.id, settlement: 'transfer', transfer_to_account_id: target, note: note.trim() } : { kind: 'closure', account_id: account.id, settlement: 'refund', note: note.trim() },
        key,
      );
      done();
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  }
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="close-title" data-testid="closure-form">
      <h2 id="close-title">{t('change.closure.title')}</h2>
      <p class="muted">{t('change.closure.explain')}</p>
      <label>
        {t('change.closure.credit')}
        <select name="settlement" value={String(target)} onChange={(e) => setTarget(Number(e.currentTarget.value))}>
          <option value="0">{label('change.settlement', 'refund')}</option>
          {others.map((a) => (
            <option key={a.id} value={String(a.id)}>
              {t('change.closure.to', { account: a.number })}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('change.note')}
        <input name="note" maxLength={500} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="danger" type="submit" disabled={busy} data-testid="request-closure">
        {t('change.closure.send')}
      </button>
    </form>
  );
}

function OwnershipForm({ account, done }: { account: Account; done: () => void }) {
  const key = useMemo(changeKey, []);
  const [name, setName] = useState('');
  const [phone, setPhone] = useState('');
  const [day, setDay] = useState(today());
  const [refund, setRefund] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    if (!name.trim()) return setError(t('change.ownership.name'));
    setBusy(true);
    setError('');
    try {
      await requestChange({ kind: 'ownership', account_id: account.id, holder_name: name.trim(), holder_phone: phone.trim(), effective_from: day, settlement: refund ? 'refund' : 'carry' }, key);
      done();
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  }
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="own-title" data-testid="ownership-form">
      <h2 id="own-title">{t('change.ownership.title')}</h2>
      <p class="muted">{t('change.ownership.explain')}</p>
      <label>
        {t('change.ownership.name')}
        <input name="holder_name" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        {t('change.ownership.phone')}
        <input name="holder_phone" type="tel" maxLength={32} value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
      </label>
      <label>
        {t('change.effective_from')}
        <input name="effective_from" type="date" value={day} max={today()} onInput={(e) => setDay(e.currentTarget.value)} />
      </label>
      <label>
        {t('change.closure.credit')}
        <select name="ownership_settlement" value={refund ? 'refund' : 'carry'} onChange={(e) => setRefund(e.currentTarget.value === 'refund')}>
          <option value="carry">{label('change.settlement', 'carry')}</option>
          <option value="refund">{label('change.settlement', 'refund')}</option>
        </select>
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={busy} data-testid="request-ownership">
        {t('change.ownership.send')}
      </button>
    </form>
  );
}

export function MyChanges({ account, accounts, category }: { account: Account; accounts: Account[]; category: string }) {
  const [tick, setTick] = useState(0);
  // all the customer's accounts: a move's change stays in sight from the new account
  const state = useAsync(() => changes(''), [account.id, tick], 30_000);
  const closed = Boolean(account.closed_at);
  const others = accounts.filter((a) => a.id !== account.id && !a.closed_at);
  return (
    <section aria-labelledby="changes-title">
      <h1 id="changes-title">{t('change.title')}</h1>
      {closed && <p class="card warn" data-testid="account-closed">{t('change.closed')}</p>}
      <Show state={state}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">{t('change.none')}</p>
          ) : (
            <ul class="list" data-testid="my-changes">
              {items.map((c) => (
                <li key={c.id}>
                  <ChangeSummary c={c} />
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      {!closed && (
        <>
          <CategoryForm account={account} current={category} done={() => setTick(tick + 1)} key={`c${tick}`} />
          <OwnershipForm account={account} done={() => setTick(tick + 1)} key={`o${tick}`} />
          <ContractForm account={account} done={() => setTick(tick + 1)} key={`k${tick}`} />
          <ClosureForm account={account} others={others} done={() => setTick(tick + 1)} key={`z${tick}`} />
        </>
      )}
    </section>
  );
}
