// Small pieces every role's screens share.
import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import { say, t, when } from '../i18n';

export function Tabs({ base, tabs }: { base: string; tabs: [string, string][] }) {
  const { path } = useLocation();
  return (
    <nav class="tabs" aria-label={t('nav.sections')}>
      {tabs.map(([sub, label]) => {
        const href = base + sub;
        const current = sub === '' ? path === base || path === `${base}/` : path.startsWith(href);
        return (
          <a key={href} href={href} aria-current={current ? 'page' : undefined}>
            {label}
          </a>
        );
      })}
    </nav>
  );
}

/** What went wrong, in the user's language: the server's code with its parameters (never
 * its English detail), or a phrase for the status when the answer carries no code. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return t('error.session');
    if (err.status >= 500) return t('error.server');
    if (err.code) return say(err.code, { field: err.field, ...err.params });
    if (err.status === 403) return t('error.forbidden');
    if (err.status === 404) return t('error.notfound');
    return t('text.unknown', { code: err.status });
  }
  if (err instanceof TypeError) return t('error.network');
  return String(err);
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="card" role="alert">
      <p class="error">{errorText(error)}</p>
      {retry && (
        <button type="button" onClick={retry}>
          {t('retry')}
        </button>
      )}
    </div>
  );
}

export function Loading() {
  return (
    <p class="muted" role="status">
      {t('loading')}
    </p>
  );
}

export function Stale({ savedAt }: { savedAt: number }) {
  return (
    <p class="stale" role="status">
      {t('stale', { when: when(savedAt) })}
    </p>
  );
}

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Load on mount (and whenever deps change); `every` ms re-polls while the screen is open. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[] = [], every?: number): Async<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const alive = useRef(true);
  // only the newest load may answer: an older one (from before the deps changed, or an earlier
  // poll) that resolves late must not overwrite what a newer one showed
  const newest = useRef(0);
  const run = useCallback(() => {
    const mine = ++newest.current;
    const current = () => alive.current && mine === newest.current;
    setLoading(true);
    load().then(
      (d) => {
        if (!current()) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (!current()) return;
        setError(e);
        setLoading(false);
      },
    );
  }, deps);
  useEffect(() => {
    alive.current = true;
    run();
    const timer = every ? setInterval(run, every) : undefined;
    return () => {
      alive.current = false;
      if (timer) clearInterval(timer);
    };
  }, [run]);
  return { data, error, loading, reload: run };
}

/** What a screen shows for an Async: the content, or loading, or the error with a retry. */
export function Show<T>({ state, children }: { state: Async<T>; children: (data: T) => ComponentChildren }) {
  if (state.data !== undefined) return <>{children(state.data)}</>;
  if (state.error) return <ErrorBox error={state.error} retry={state.reload} />;
  return <Loading />;
}
