// Field flags for a supervisor to look at: what the plausibility checks found on a reading.
// A flag is never a penalty by itself; resolving it takes a note saying what was found.
import { useState } from 'preact/hooks';
import { label, say, t, when } from '../../i18n';
import { get, me, post } from '../../lib/api';
import { errorText, Show, useAsync } from '../common';
import type { Flag } from '../inspector/types';

function Resolve({ flag, done }: { flag: Flag; done: () => void }) {
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  async function submit(e: Event) {
    e.preventDefault();
    if (!note.trim()) return setError(t('op.flags.note.missing'));
    try {
      await post(`/field/flags/${flag.id}/resolve`, { note: note.trim() });
      done();
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <form onSubmit={submit} class="row">
      <label class="grow">
        {t('op.flags.note')}
        <input name="note" value={note} maxLength={1000} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      <button type="submit">{t('op.flags.resolve')}</button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

export function FlagReview() {
  const state = useAsync(() => get<Flag[]>('/field/flags?status=open'));
  return (
    <section aria-labelledby="review-title">
      <h1 id="review-title">{t('op.flags')}</h1>
      <Show state={state}>
        {(flags) =>
          flags.length === 0 ? (
            <p class="ok">{t('op.flags.none')}</p>
          ) : (
            <ul class="list" data-testid="review-flags">
              {flags.map((f) => (
                <li key={f.id}>
                  <div class="item">
                    <span class="flag">⚑ {label('flag', f.kind)}</span>
                    <strong>
                      {' '}
                      {t('insp.meter')} {f.meter_id}
                    </strong>
                    {f.code && <div class="muted">{say(f.code, f.params)}</div>}
                    <div class="muted">{t('op.flags.by', { who: f.inspector_id, when: when(f.created_at) })}</div>
                    {me.value?.role === 'supervisor' && <Resolve flag={f} done={state.reload} />}
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
