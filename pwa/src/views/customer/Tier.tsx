// The customer's current tariff tier (阶梯, R42): which tier, the price, what is used in the
// tariff year (or month) and what is left in the tier before the next one starts.
import { kwh, t } from '../../i18n';
import { Show, useAsync } from '../common';
import { type Account, type TierNow, tierNow } from './data';

export function TierText({ tier }: { tier: TierNow }) {
  const used = t(tier.cycle === 'monthly' ? 'cust.tier.used.month' : 'cust.tier.used', { used: kwh(tier.used_wh, 0) });
  return (
    <>
      <strong data-testid="tier-now">{t('cust.tier', { tier: tier.tier, price: tier.price })}</strong>
      <span> · {used}</span>
      {tier.tiers > 1 && (
        <div data-testid="tier-left">
          {tier.left_wh === null ? t('cust.tier.last') : t('cust.tier.left', { kwh: kwh(tier.left_wh, 0), end: tier.cycle_end })}
        </div>
      )}
    </>
  );
}

export function TierCard({ account, compact = false }: { account: Account; compact?: boolean }) {
  const state = useAsync(() => tierNow(account.id), [account.id]);
  return (
    <Show state={state}>
      {(tier) =>
        tier ? (
          <p class={compact ? 'muted' : 'card'} data-testid="tier">
            <TierText tier={tier} />
          </p>
        ) : null
      }
    </Show>
  );
}
