// Top-up (充值). One intent, one payment order: the Idempotency-Key is made when the form opens
// (and again only when the amount changes), the button is disabled while the request is in
// flight, and every retry of the intent carries the same key (see lib/topup.ts), so a double
// tap or a lost answer never makes two orders. The order is credited only when the payment
// provider confirms it; the screen polls the order and shows pending → confirmed.
import { useEffect, useState } from 'preact/hooks';
import { say, t, yuan } from '../../i18n';
import { newId } from '../../lib/api';
import { pendingTopUp, topUp, type TopUpOutcome } from '../../lib/topup';
import { parseYuan } from '../../lib/units';
import { type Account, type PaymentOrder, paymentOrder, payWithSimulatedWallet, sendTopUp } from './data';

const PRESETS = [5000, 10000, 20000, 50000]; // fen
const POLL_MS = 2000;

function OrderStatus({ account, first }: { account: Account; first: PaymentOrder }) {
  const [order, setOrder] = useState(first);
  const [paying, setPaying] = useState(false);
  useEffect(() => {
    if (order.status !== 'pending') return;
    const timer = setInterval(() => {
      paymentOrder(account.id, order.order_no).then(setOrder, () => undefined);
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [account.id, order.order_no, order.status]);

  async function wallet() {
    setPaying(true);
    try {
      setOrder(await payWithSimulatedWallet(account.id, order.order_no));
    } finally {
      setPaying(false);
    }
  }

  if (order.status === 'paid')
    return (
      <div class="card" role="status" data-testid="topup-done">
        <p class="ok big-text">{t('pay.confirmed', { amount: yuan(order.amount_fen) })}</p>
        {order.balance_after_fen !== null && <p>{t('cust.topup.newbalance', { balance: yuan(order.balance_after_fen) })}</p>}
        {order.receipt_number && <p class="muted">{t('cust.topup.receipt', { n: order.receipt_number })}</p>}
        <a class="button" href="/customer">
          {t('cust.tab.home')}
        </a>
      </div>
    );
  if (order.status === 'expired')
    return (
      <p class="card warn" role="alert" data-testid="topup-expired">
        {t('pay.expired')}
      </p>
    );
  return (
    <div class="card" role="status" data-testid="topup-pending">
      <p class="warn big-text">{t('pay.pending', { amount: yuan(order.amount_fen) })}</p>
      <p class="muted">{t('pay.pending.hint')}</p>
      <p class="muted">{t('pay.order', { n: order.order_no })}</p>
      {order.provider === 'simulated' && (
        <button type="button" onClick={wallet} disabled={paying} data-testid="simulated-wallet">
          {t('pay.simulated')}
        </button>
      )}
    </div>
  );
}

export function TopUp({ account }: { account: Account }) {
  const pending = pendingTopUp();
  const resume = pending && pending.accountId === account.id ? pending : null;
  const [amount, setAmount] = useState(resume ? (resume.amountFen / 100).toFixed(2) : '100');
  const [key, setKey] = useState(() => resume?.key ?? newId()); // made when the form opens
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<TopUpOutcome<PaymentOrder> | null>(null);
  const fen = parseYuan(amount);
  const valid = fen !== null && fen > 0;

  function changeAmount(next: string) {
    setAmount(next);
    if (!busy) setKey(newId()); // another amount is another intent
    setOutcome(null);
  }

  async function pay(e: Event) {
    e.preventDefault();
    if (!valid || busy) return;
    setBusy(true);
    try {
      setOutcome(await topUp<PaymentOrder>(account.id, fen, sendTopUp, () => key));
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
              <button key={p} type="button" aria-pressed={fen === p} disabled={busy} onClick={() => changeAmount(String(p / 100))}>
                ¥{p / 100}
              </button>
            ))}
          </div>
        </fieldset>
        <label>
          {t('cust.topup.amount')}
          <input name="amount" inputMode="decimal" autoComplete="off" value={amount} disabled={busy} aria-invalid={!valid} onInput={(e) => changeAmount(e.currentTarget.value)} />
        </label>
        {!valid && <p class="error">{t('cust.topup.invalid')}</p>}
        {resume && !outcome && <p class="warn">{t('cust.topup.resume', { amount: yuan(resume.amountFen) })}</p>}
        <button class="primary" type="submit" disabled={busy || !valid}>
          {busy ? t('busy') : valid ? t('cust.topup.pay', { amount: yuan(fen) }) : t('cust.topup')}
        </button>
      </form>
      {outcome?.kind === 'done' && <OrderStatus key={outcome.result.order_no} account={account} first={outcome.result} />}
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
