// What is waiting on this device, what needs attention, and a "send now" button.
// Nothing here disappears by itself: only delivery, or the user's explicit discard.
import { say, t, when } from '../../i18n';
import { online } from '../../lib/api';
import type { OutboxItem } from '../../lib/db';
import { attentionCount, discard, list, outboxCount, replaying, retry } from '../../lib/outbox';
import { lastReplay, sendNow } from '../../lib/sync';
import { Show, useAsync } from '../common';

function itemLabel(item: OutboxItem): string {
  if (item.kind === 'track') return t('outbox.track', { n: item.label.split(':')[1] ?? '' });
  if (item.kind === 'repair') return t('outbox.repair', { what: item.label });
  return item.label;
}

function Item({ item }: { item: OutboxItem }) {
  return (
    <li>
      <div class="item">
        <strong>{itemLabel(item)}</strong>
        <div class="muted">
          {t(`outbox.kind.${item.kind}`)} · {when(item.createdAt)}
          {item.photoKey && ` · ${t('photo.attached')}`}
          {item.attempts > 0 && ` · ${t('outbox.attempts', { n: item.attempts })}`}
        </div>
        {(item.lastText ?? item.lastError) && (
          <div class={item.state === 'attention' ? 'error' : 'muted'}>
            {item.lastText ? say(item.lastText.code, { field: item.lastText.field, ...item.lastText.params }) : item.lastError}
          </div>
        )}
        {item.state === 'attention' && (
          <div class="row">
            <button type="button" onClick={() => void retry(item.seq!)}>
              {t('outbox.retry')}
            </button>
            <button
              type="button"
              class="danger"
              onClick={() => {
                if (confirm(t('outbox.discard.confirm', { what: itemLabel(item) }))) void discard(item.seq!);
              }}
            >
              {t('outbox.discard')}
            </button>
          </div>
        )}
      </div>
    </li>
  );
}

function lastResult(): string {
  const r = lastReplay.value;
  if (!r) return '';
  const stopped = r.stoppedAt === 'network' ? t('outbox.stopped.network') : r.stoppedAt?.startsWith('http-') ? t('outbox.stopped.server', { status: r.stoppedAt.slice(5) }) : '';
  return `${t('outbox.result', { sent: r.sent, attention: r.attention, when: when(r.at) })} ${stopped}`.trim();
}

export function OutboxView() {
  // re-read whenever the counts change (a capture, a replay, a retry)
  const state = useAsync(list, [outboxCount.value, attentionCount.value, replaying.value]);
  return (
    <section aria-labelledby="outbox-title">
      <h1 id="outbox-title">{t('outbox.title')}</h1>
      <div class="card">
        <p role="status" data-testid="outbox-count">
          {t('outbox.waiting', { n: outboxCount.value })}
        </p>
        <button class="primary" type="button" disabled={replaying.value || !online.value || outboxCount.value === 0} onClick={() => void sendNow()}>
          {replaying.value ? t('outbox.sending') : t('outbox.send')}
        </button>
        {!online.value && <p class="muted">{t('outbox.offline')}</p>}
        {lastReplay.value && <p class="muted" data-testid="outbox-result">{lastResult()}</p>}
      </div>
      <Show state={state}>
        {(items) => {
          const waiting = items.filter((i) => i.state === 'waiting');
          const attention = items.filter((i) => i.state === 'attention');
          return (
            <>
              {attention.length > 0 && (
                <>
                  <h2 class="error">{t('outbox.attention', { n: attention.length })}</h2>
                  <p class="muted">{t('outbox.attention.help')}</p>
                  <ul class="list" data-testid="outbox-attention">
                    {attention.map((i) => (
                      <Item key={i.seq} item={i} />
                    ))}
                  </ul>
                </>
              )}
              <h2>{t('outbox.queue')}</h2>
              {waiting.length === 0 ? (
                <p class="muted">{t('outbox.empty')}</p>
              ) : (
                <ol class="list" data-testid="outbox-waiting">
                  {waiting.map((i) => (
                    <Item key={i.seq} item={i} />
                  ))}
                </ol>
              )}
            </>
          );
        }}
      </Show>
    </section>
  );
}
