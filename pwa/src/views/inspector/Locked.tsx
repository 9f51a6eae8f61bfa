// A confirmed reading: locked. Shows whether it still waits on the device or the server has it,
// and the server's plausibility flags once it has.
import { kwh, label, say, t, when } from '../../i18n';
import { ApiError, get, online } from '../../lib/api';
import { attentionCount, list, outboxCount } from '../../lib/outbox';
import { useAsync } from '../common';
import type { LocalCapture } from './book';
import type { FieldReading, Flag } from './types';

export function FlagList({ flags }: { flags: Flag[] }) {
  if (flags.length === 0) return <p class="ok">{t('flags.none')}</p>;
  return (
    <ul class="plain" aria-label={t('flags.title')}>
      {flags.map((f) => (
        <li key={f.id}>
          <span class="flag">⚑ {label('flag', f.kind)}</span>
          {f.code && <span class="muted"> {say(f.code, f.params)}</span>}
          {f.status === 'resolved' && <span class="ok"> ✓ {t('flags.resolved')}</span>}
        </li>
      ))}
    </ul>
  );
}

// waiting: still in the outbox to be sent; refused: the server refused it (the outbox holds it
// for the inspector to read why, then try again or discard); otherwise what the server has
type ServerState =
  | { waiting: true; refused?: false }
  | { waiting: false; refused: true }
  | { waiting: false; refused?: false; reading: FieldReading | null };

export function LockedReading({ readingId, local }: { readingId: string; local?: LocalCapture }) {
  const state = useAsync<ServerState>(
    async () => {
      const held = (await list()).find((i) => i.id === readingId);
      if (held?.state === 'waiting') return { waiting: true };
      if (held?.state === 'attention') return { waiting: false, refused: true };
      if (!online.value) return { waiting: false, reading: null };
      try {
        return { waiting: false, reading: await get<FieldReading>(`/field/readings/${readingId}`) };
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return { waiting: false, reading: null };
        throw err;
      }
    },
    [readingId, outboxCount.value, attentionCount.value, online.value],
  );
  const reading = state.data && !state.data.waiting && !state.data.refused ? state.data.reading : null;
  const registers = reading?.registers ?? local?.registers ?? {};
  return (
    <section class="card locked" aria-labelledby="locked-title" data-testid="locked">
      <h2 id="locked-title">🔒 {t('insp.locked.title')}</h2>
      <p class="big">{registers.energy_import !== undefined ? kwh(registers.energy_import) : '—'}</p>
      <p class="muted">
        {reading ? t('insp.locked.received', { when: when(reading.received_at) }) : local ? t('insp.locked.confirmed', { when: when(local.at) }) : ''}
      </p>
      {state.data?.waiting && (
        <p class="warn" role="status">
          {t('insp.locked.waiting')} <a href="/inspector/outbox">{t('insp.tab.outbox')}</a>
        </p>
      )}
      {state.data?.refused && (
        <p class="warn" role="alert" data-testid="refused">
          {t('insp.locked.refused')} <a href="/inspector/outbox">{t('insp.tab.outbox')}</a>
        </p>
      )}
      {reading?.status === 'held' && (
        <p class="warn" role="status" data-testid="held">
          {t('insp.locked.held')}
        </p>
      )}
      {reading && (
        <>
          <h3>{t('flags.title')}</h3>
          <FlagList flags={reading.flags} />
        </>
      )}
      <p class="muted">{t('insp.locked.correction')}</p>
    </section>
  );
}
