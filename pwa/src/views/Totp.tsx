// Two-step login (TOTP): enrol an authenticator app. Step 1 the password again, step 2 the
// secret as a QR code and as text (shown once) and a first code to confirm, step 3 the
// recovery codes (shown once). Operators must do this before anything else when the server
// requires it.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { t } from '../i18n';
import { ApiError, homeFor, me, post, reloadMe } from '../lib/api';

interface Enrolment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

function problem(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 429) return t('login.locked', { min: Math.max(1, Math.ceil(err.retryAfter / 60)) });
    if (err.status === 409) return t('totp.already');
    const field = err.fields[0]?.key;
    if (field === 'password') return t('login.wrong');
    if (field === 'code') return t('totp.wrongcode');
  }
  return t('login.failed');
}

export function Totp() {
  const { route } = useLocation();
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function run(step: () => Promise<void>, e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await step();
    } catch (err) {
      setError(problem(err));
    } finally {
      setBusy(false);
    }
  }

  const failure = error && (
    <p class="error" role="alert">
      {error}
    </p>
  );

  if (me.value?.totp_enabled && !codes)
    return (
      <section class="card narrow">
        <h1>{t('totp.title')}</h1>
        <p class="ok">{t('totp.on')}</p>
      </section>
    );

  if (codes)
    return (
      <section class="card narrow">
        <h1>{t('totp.codes.title')}</h1>
        <p>{t('totp.codes.hint')}</p>
        <ul class="plain" data-testid="recovery-codes">
          {codes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ul>
        <button class="primary" type="button" onClick={() => route(homeFor(me.value?.role), true)}>
          {t('totp.codes.done')}
        </button>
      </section>
    );

  if (enrolment)
    return (
      <form
        class="card narrow"
        onSubmit={(e) =>
          run(async () => {
            const answer = await post<{ recovery_codes: string[] }>('/auth/totp/confirm', { code: code.trim() });
            setCodes(answer.recovery_codes);
            await reloadMe();
          }, e)
        }
      >
        <h1>{t('totp.title')}</h1>
        <p>{t('totp.scan')}</p>
        <img src={enrolment.qr_svg} alt={t('totp.qr')} width={220} height={220} />
        <p class="muted">{t('totp.manual')}</p>
        <p>
          <code data-testid="totp-secret">{enrolment.secret}</code>
        </p>
        <p>
          <a href={enrolment.otpauth_uri}>{t('totp.openapp')}</a>
        </p>
        <label>
          {t('totp.confirm')}
          <input name="code" autoComplete="one-time-code" inputMode="numeric" pattern="[0-9]{6}" maxLength={6} required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
        </label>
        {failure}
        <button class="primary" type="submit" disabled={busy}>
          {busy ? t('busy') : t('totp.confirm.submit')}
        </button>
      </form>
    );

  return (
    <form class="card narrow" onSubmit={(e) => run(async () => setEnrolment(await post<Enrolment>('/auth/totp/enrol', { password })), e)}>
      <h1>{t('totp.title')}</h1>
      <p>{me.value?.totp_enrolment_required ? t('totp.required') : t('totp.why')}</p>
      <label>
        {t('login.password')}
        <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      {failure}
      <button class="primary" type="submit" disabled={busy}>
        {busy ? t('busy') : t('totp.start')}
      </button>
    </form>
  );
}
