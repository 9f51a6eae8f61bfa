// The operators' knowledge base: a search box beside intake and an order's detail that shows
// the matching short answers, and the back office's list where supervisors write and edit them.
import { useEffect, useState } from 'preact/hooks';
import { label, t, when } from '../../i18n';
import { me, newId } from '../../lib/api';
import { errorText } from '../common';
import { answers, type Article, editArticle, fieldTask, KINDS, type Kind, meterCommand, writeArticle } from './data';

function AnswerList({ items }: { items: Article[] }) {
  return (
    <ul class="list" data-testid="answers">
      {items.map((a) => (
        <li key={a.id}>
          <details>
            <summary>
              <strong>{a.title}</strong>
              {a.tags.length > 0 && <span class="muted"> · {a.tags.join(' · ')}</span>}
            </summary>
            <p>{a.body}</p>
          </details>
        </li>
      ))}
    </ul>
  );
}

/** Search the answers while on the phone; ``kind`` narrows them to that kind of order. */
export function AnswerBox({ kind }: { kind?: Kind }) {
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<Article[] | null>(null);
  const [error, setError] = useState('');

  async function search(e: Event) {
    e.preventDefault();
    if (!q.trim()) return;
    setError('');
    try {
      setHits(await answers(q, kind));
    } catch (err) {
      setHits(null);
      setError(errorText(err));
    }
  }

  return (
    <section class="card" aria-labelledby="kb-title">
      <h2 id="kb-title">{t('kb.title')}</h2>
      <form onSubmit={search} class="row" role="search">
        <label>
          {t('kb.search')}
          <input name="kb-q" value={q} maxLength={64} onInput={(e) => setQ(e.currentTarget.value)} placeholder={t('kb.search.hint')} />
        </label>
        <button type="submit">{t('kb.search.go')}</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {hits && hits.length === 0 && <p class="muted">{t('kb.none')}</p>}
      {hits && hits.length > 0 && <AnswerList items={hits} />}
    </section>
  );
}

const EMPTY = { title: '', body: '', tags: '', kinds: [] as Kind[] };

/** Every answer, last edited first; supervisors and admins write and edit them. */
export function KnowledgeBase() {
  const editor = me.value?.role === 'supervisor' || me.value?.role === 'admin';
  const [items, setItems] = useState<Article[] | null>(null);
  const [q, setQ] = useState('');
  const [editing, setEditing] = useState<Article | null>(null);
  const [form, setForm] = useState(EMPTY);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function load(query = q) {
    try {
      setItems(await answers(query, undefined, 100));
      setError('');
    } catch (err) {
      setError(errorText(err));
    }
  }
  useEffect(() => void load(''), []);

  function open(a: Article | null) {
    setEditing(a);
    setForm(a ? { title: a.title, body: a.body, tags: a.tags.join(', '), kinds: a.kinds } : EMPTY);
  }

  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    const body = {
      title: form.title.trim(),
      body: form.body.trim(),
      tags: form.tags
        .split(/[,，、]/)
        .map((s) => s.trim())
        .filter(Boolean),
      kinds: form.kinds,
    };
    try {
      if (editing) await editArticle(editing.id, editing.version, body);
      else await writeArticle(body);
      open(null);
      await load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  const toggle = (k: Kind) => setForm({ ...form, kinds: form.kinds.includes(k) ? form.kinds.filter((x) => x !== k) : [...form.kinds, k] });

  return (
    <section aria-labelledby="kbl-title">
      <h1 id="kbl-title">{t('kb.title')}</h1>
      <form
        class="row"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          {t('kb.search')}
          <input name="kb-q" value={q} maxLength={64} onInput={(e) => setQ(e.currentTarget.value)} placeholder={t('kb.search.hint')} />
        </label>
        <button type="submit">{t('kb.search.go')}</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {editor && (
        <form class="card" onSubmit={save} data-testid="kb-form">
          <h2>{editing ? t('kb.edit', { article: editing.id }) : t('kb.new')}</h2>
          <label>
            {t('kb.field.title')}
            <input name="title" required maxLength={200} value={form.title} onInput={(e) => setForm({ ...form, title: e.currentTarget.value })} />
          </label>
          <label>
            {t('kb.field.body')}
            <textarea name="body" required rows={4} maxLength={4000} value={form.body} onInput={(e) => setForm({ ...form, body: e.currentTarget.value })} />
          </label>
          <label>
            {t('kb.field.tags')}
            <input name="tags" maxLength={400} value={form.tags} onInput={(e) => setForm({ ...form, tags: e.currentTarget.value })} />
          </label>
          <fieldset>
            <legend>{t('kb.field.kinds')}</legend>
            {KINDS.map((k) => (
              <label key={k}>
                <input type="checkbox" checked={form.kinds.includes(k)} onChange={() => toggle(k)} /> {label('order.kind', k)}
              </label>
            ))}
          </fieldset>
          <button class="primary" type="submit" disabled={busy}>
            {t('kb.save')}
          </button>
          {editing && (
            <button type="button" onClick={() => open(null)}>
              {t('kb.cancel')}
            </button>
          )}
        </form>
      )}
      {items && items.length === 0 && <p class="muted">{t('kb.none')}</p>}
      {items && items.length > 0 && (
        <ul class="list" data-testid="kb-list">
          {items.map((a) => (
            <li key={a.id}>
              <details>
                <summary>
                  <strong>{a.title}</strong>
                  <span class="muted">
                    {' '}
                    · {a.kinds.length ? a.kinds.map((k) => label('order.kind', k)).join('、') : t('kb.all_kinds')} · {when(a.updated_at)}
                  </span>
                </summary>
                <p>{a.body}</p>
                {a.tags.length > 0 && <p class="muted">{a.tags.join(' · ')}</p>}
                {editor && (
                  <button type="button" onClick={() => open(a)}>
                    {t('kb.edit.go')}
                  </button>
                )}
              </details>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** An open order's follow-ups: a field task for the inspector (back office) and a reconnect or
 * disconnect of its meter (operators), which goes to the command queue and its approvals. */
export function FollowUps({ orderId, reload }: { orderId: number; reload: () => void }) {
  const role = me.value?.role;
  const [kind, setKind] = useState<'reconnect' | 'disconnect'>('reconnect');
  const [reason, setReason] = useState('');
  const [override, setOverride] = useState('');
  const [commandKey] = useState(() => `cmd-${newId()}`); // one intent: one command
  const [done, setDone] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function run(f: () => Promise<string>) {
    setBusy(true);
    setError('');
    try {
      setDone(await f());
      reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card" aria-labelledby="fu-title">
      <h2 id="fu-title">{t('desk.followup')}</h2>
      <button type="button" data-testid="field-task" disabled={busy} onClick={() => run(async () => t('desk.followup.task_done', { task: (await fieldTask(orderId, {})).field_task_id ?? '' }))}>
        {t('desk.followup.task')}
      </button>
      {(role === 'operator' || role === 'admin') && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!reason.trim()) return;
            void run(async () => {
              const r = await meterCommand(orderId, { kind, reason: reason.trim(), id: commandKey, ...(override.trim() ? { override_reason: override.trim() } : {}) });
              return t('desk.followup.command_done', { command: r.command_id ?? '', state: label('cmd', r.command_state ?? '') });
            });
          }}
        >
          <label>
            {t('desk.followup.command')}
            <select name="command-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as 'reconnect' | 'disconnect')}>
              <option value="reconnect">{label('kind', 'reconnect')}</option>
              <option value="disconnect">{label('kind', 'disconnect')}</option>
            </select>
          </label>
          <label>
            {t('desk.followup.reason')}
            <input name="command-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <label>
            {t('desk.followup.override')}
            <input name="command-override" maxLength={500} value={override} onInput={(e) => setOverride(e.currentTarget.value)} />
          </label>
          <button type="submit" data-testid="command" disabled={busy}>
            {t('desk.followup.command')}
          </button>
        </form>
      )}
      {done && (
        <p class="ok" data-testid="followup-done">
          {done}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
