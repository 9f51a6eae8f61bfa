// The customer's own manager (客户经理, R106): who, how to call, and a message to them.
import { useState } from 'preact/hooks';
import { t } from '../../i18n';
import { ErrorBox, Show, useAsync } from '../common';
import { messageManager, myManagers } from './data';

export function MyManager() {
  const state = useAsync(myManagers);
  const [text, setText] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function send(e: Event) {
    e.preventDefault();
    try {
      await messageManager(text.trim());
      setText('');
      setSent(true);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section aria-labelledby="manager-title">
      <h1 id="manager-title">{t('ka.my_manager')}</h1>
      <Show state={state}>
        {(managers) =>
          managers.length === 0 ? (
            <p class="muted">{t('ka.my_manager.none')}</p>
          ) : (
            <>
              <ul class="list" data-testid="managers">
                {managers.map((m) => (
                  <li key={m.user_id} class="item">
                    <strong>{m.display_name}</strong> · {t(`ka.manager.${m.kind}`)}
                    {m.phone && (
                      <div>
                        <a class="button" href={`tel:${m.phone}`}>
                          {t('ka.manager.call', { phone: m.phone })}
                        </a>
                      </div>
                    )}
                  </li>
                ))}
              </ul>
              <form onSubmit={send} class="card">
                <label>
                  {t('ka.message')}
                  <textarea name="message" value={text} required maxLength={2000} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
                </label>
                <button class="primary" type="submit">
                  {t('ka.message.send')}
                </button>
                {sent && (
                  <p class="ok" role="status">
                    {t('ka.message.sent')}
                  </p>
                )}
                {error !== null && <ErrorBox error={error} />}
              </form>
            </>
          )
        }
      </Show>
    </section>
  );
}
