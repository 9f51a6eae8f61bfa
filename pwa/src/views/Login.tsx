import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { ApiError, login } from '../api';
import { homeFor } from '../app';
import { t } from '../i18n';

export function Login() {
  const { route } = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const who = await login(username.trim(), password);
      route(homeFor(who.role), true);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t('login.wrong') : t('login.failed'));
    } finally {
      setBusy(false);
    }
  }

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
