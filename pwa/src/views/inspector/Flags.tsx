// The plausibility flags on this inspector's readings: what a supervisor will look at.
import { label, say, t, when } from '../../i18n';
import { me } from '../../lib/api';
import { getCached } from '../../lib/cached';
import { Show, Stale, useAsync } from '../common';
import type { Flag } from './types';

export function Flags() {
  const state = useAsync(() => getCached<Flag[]>(`/field/flags?status=open&inspector_id=${me.value?.id ?? 0}`));
  return (
    <section aria-labelledby="flags-title">
      <h1 id="flags-title">{t('flags.mine')}</h1>
      <Show state={state}>
        {({ value, fresh, savedAt }) => (
          <>
            {!fresh && <Stale savedAt={savedAt} />}
            {value.length === 0 ? (
              <p class="card ok">{t('flags.none')}</p>
            ) : (
              <ul class="list" data-testid="flags">
                {value.map((f) => (
                  <li key={f.id}>
                    <div class="item">
                      <span class="flag">⚑ {label('flag', f.kind)}</span>
                      <strong> {t('insp.meter')} {f.meter_id}</strong>
                      {f.code && <div class="muted">{say(f.code, f.params)}</div>}
                      <div class="muted">
                        {when(f.created_at)} · {f.status === 'open' ? t('flags.open') : `${t('flags.resolved')}: ${f.resolution ?? ''}`}
                      </div>
                    </div>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Show>
    </section>
  );
}
