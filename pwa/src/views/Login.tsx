import { useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, homeFor, login, me, online } from '../lib/api';
import { t } from '../i18n';

/** The words for a refused login: wrong, locked (for how long), or the second step. */
function refusal(err: unknown, codeStep: boolean): string {
  if (!(err instanceof ApiError)) return t('login.failed');
  if (err.status === 429) return t('login.locked', { min: Math.max(1, Math.ceil(err.retryAfter / 60)) });
  if (err.status === 401) return err.code === 'error.totp_required' ? '' : codeStep ? t('login.code.wrong') : t('login.wrong');
  return t('login.failed');
}

export function Login() {
  const { route } = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [askCode, setAskCode] = useState(false); // the second step: TOTP or a recovery code
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (me.value) route(homeFor(me.value.role), true);
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const who = await login(username.trim(), password, askCode ? code.trim() : undefined);
      route(homeFor(who.role), true);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'error.totp_required') setAskCode(true);
      setError(refusal(err, askCode));
    } finally {
      setBusy(false);
    }
  }

  if (askCode)
    return (
      <form class="card narrow" onSubmit={submit}>
        <h1>{t('login.code.title')}</h1>
        <p class="muted">{t('login.code.hint')}</p>
        <label>
          {t('login.code')}
          <input
            name="code"
            autoComplete="one-time-code"
            inputMode="text"
            autoFocus
            required
            maxLength={16}
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {busy ? t('busy') : t('login.submit')}
        </button>
        <button
          class="link wide"
          type="button"
          onClick={() => {
            setAskCode(false);
            setCode('');
            setPassword('');
            setError('');
          }}
        >
          {t('login.code.back')}
        </button>
      </form>
    );

  return (
    <form class="card narrow" onSubmit={submit}>
      <h1>{t('login.title')}</h1>
      <label>
        {t('login.username')}
        <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label>
        {t('login.password')}
        <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      {!online.value && <p class="warn">{t('login.offline')}</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary" type="submit" disabled={busy}>
        {busy ? t('busy') : t('login.submit')}
      </button>
    </form>
  );
}
