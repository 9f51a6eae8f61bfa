// Readings held for review (quarantine): values a meter could not have produced, or a field
// reading that disagrees with AMI. Stored, never billed, until someone releases (bill it) or
// rejects (never) it, with a note. Exactly one decision wins; a late second one is told so.
import { useState } from 'preact/hooks';
import { kwh, label, type Params, say, t, when } from '../../i18n';
import { get, post } from '../../lib/api';
import { errorText, Show, useAsync } from '../common';

interface HeldReading {
  id: number;
  meter_id: string;
  quantity: string;
  ts: number;
  value: number;
  source: string;
  reason: { code: string; params: Params };
  status: string;
  held_at: number;
}

function Decide({ held, done }: { held: HeldReading; done: () => void }) {
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function decide(action: 'release' | 'reject') {
    if (!note.trim()) return setError(t('op.held.note.missing'));
    setBusy(true);
    try {
      await post(`/quarantine/${held.id}/${action}`, { note: note.trim() });
      done();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return (
    <div class="row">
      <label class="grow">
        {t('op.held.note')}
        <input name="note" value={note} maxLength={1000} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      <button type="button" onClick={() => decide('release')} disabled={busy}>
        {t('op.held.release')}
      </button>
      <button type="button" onClick={() => decide('reject')} disabled={busy}>
        {t('op.held.reject')}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function Quarantine() {
  const state = useAsync(() => get<HeldReading[]>('/quarantine?status=held'));
  return (
    <section aria-labelledby="held-title">
      <h1 id="held-title">{t('op.held')}</h1>
      <p class="muted">{t('op.held.intro')}</p>
      <Show state={state}>
        {(held) =>
          held.length === 0 ? (
            <p class="ok">{t('op.held.none')}</p>
          ) : (
            <ul class="list" data-testid="held-readings">
              {held.map((h) => (
                <li key={h.id}>
                  <div class="item">
                    <strong>
                      {t('insp.meter')} {h.meter_id}
                    </strong>{' '}
                    <span class="tag">{label('held.source', h.source)}</span>
                    <div>
                      {h.quantity === 'energy_import' ? kwh(h.value) : `${h.quantity} ${h.value}`} · {when(h.ts)}
                    </div>
                    <div class="warn">{say(h.reason.code, h.reason.params)}</div>
                    <div class="muted">{t('op.held.since', { when: when(h.held_at) })}</div>
                    <Decide held={h} done={state.reload} />
                  </div>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}
