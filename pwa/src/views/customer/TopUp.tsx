// Top-up (充值). One attempt, one Idempotency-Key, reused on every retry of that attempt, so a
// double tap, a timeout or a flaky network never pays twice (see lib/topup.ts).
import { useState } from 'preact/hooks';
import { say, t, yuan } from '../../i18n';
import { newId } from '../../lib/api';
import { pendingTopUp, topUp, type TopUpOutcome } from '../../lib/topup';
import { parseYuan } from '../../lib/units';
import { type Account, sendTopUp, type TopUpResult } from './data';

const PRESETS = [5000, 10000, 20000, 50000]; // fen

export function TopUp({ account }: { account: Account }) {
  const pending = pendingTopUp();
  const resume = pending && pending.accountId === account.id ? pending : null;
  const [amount, setAmount] = useState(resume ? (resume.amountFen / 100).toFixed(2) : '100');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<TopUpOutcome<TopUpResult> | null>(null);
  const fen = parseYuan(amount);
  const valid = fen !== null && fen > 0;

  async function pay(e: Event) {
    e.preventDefault();
    if (!valid) return;
    setBusy(true);
    try {
      setOutcome(await topUp<TopUpResult>(account.id, fen, sendTopUp, newId));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="topup-title">
      <h1 id="topup-title">{t('cust.topup')}</h1>
      <form class="card" onSubmit={pay} noValidate>
        <fieldset class="presets">
          <legend>{t('cust.topup.presets')}</legend>
          <div class="row">
            {PRESETS.map((p) => (
              <button key={p} type="button" aria-pressed={fen === p} onClick={() => setAmount(String(p / 100))}>
                ¥{p / 100}
              </button>
            ))}
          </div>
        </fieldset>
        <label>
          {t('cust.topup.amount')}
          <input name="amount" inputMode="decimal" autoComplete="off" value={amount} aria-invalid={!valid} onInput={(e) => setAmount(e.currentTarget.value)} />
        </label>
        {!valid && <p class="error">{t('cust.topup.invalid')}</p>}
        {resume && !outcome && <p class="warn">{t('cust.topup.resume', { amount: yuan(resume.amountFen) })}</p>}
        <button class="primary" type="submit" disabled={busy || !valid}>
          {busy ? t('busy') : valid ? t('cust.topup.pay', { amount: yuan(fen) }) : t('cust.topup')}
        </button>
      </form>
      {outcome?.kind === 'done' && (
        <div class="card" role="status" data-testid="topup-done">
          <p class="ok big-text">{t('cust.topup.done', { amount: yuan(outcome.result.amount_fen) })}</p>
          <p>{t('cust.topup.newbalance', { balance: yuan(outcome.result.balance_after_fen) })}</p>
          <p class="muted">{t('cust.topup.receipt', { n: outcome.result.receipt_number })}</p>
          <a class="button" href="/customer">
            {t('cust.tab.home')}
          </a>
        </div>
      )}
      {outcome?.kind === 'refused' && (
        <p class="card error" role="alert">
          {t('cust.topup.refused')} {outcome.text ? say(outcome.text.code, { field: outcome.text.field, ...outcome.text.params }) : ''}
        </p>
      )}
      {outcome?.kind === 'unknown' && (
        <p class="card warn" role="alert" data-testid="topup-unknown">
          {t('cust.topup.unknown')}
        </p>
      )}
    </section>
  );
}
