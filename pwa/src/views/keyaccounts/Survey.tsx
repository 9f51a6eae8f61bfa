// The customer's satisfaction questionnaires (R93): scores 1–5 and opinions, sent once.
import { useMemo, useState } from 'preact/hooks';
import { lang, t } from '../../i18n';
import { get, newId, post } from '../../lib/api';
import { ErrorBox, Show, useAsync } from '../common';

interface Question {
  id: number;
  text_zh: string;
  text_en: string;
  kind: 'score' | 'text';
}

interface Questionnaire {
  id: number;
  title: string;
  questions: Question[];
}

function Form({ q, done }: { q: Questionnaire; done: () => void }) {
  const clientId = useMemo(() => newId(), [q.id]);
  const [answers, setAnswers] = useState<Record<string, number | string>>({});
  const [error, setError] = useState<unknown>(null);
  async function submit(e: Event) {
    e.preventDefault();
    const body: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(answers)) if (typeof v === 'number' || v.trim()) body[k] = typeof v === 'string' ? v.trim() : v;
    try {
      await post(`/key-accounts/surveys/questionnaires/${q.id}/responses`, { client_id: clientId, answers: body });
      setError(null);
      done();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form class="card" onSubmit={submit} data-testid={`survey-${q.id}`}>
      <h2>{q.title}</h2>
      {q.questions.map((question) => {
        const text = lang.value === 'zh-CN' ? question.text_zh : question.text_en;
        return question.kind === 'score' ? (
          <fieldset key={question.id}>
            <legend>{text}</legend>
            <p class="muted">{t('ka.survey.scale')}</p>
            {[1, 2, 3, 4, 5].map((n) => (
              <label key={n} class="check">
                <input type="radio" name={`q${question.id}`} value={n} required checked={answers[question.id] === n} onChange={() => setAnswers({ ...answers, [question.id]: n })} /> {n}
              </label>
            ))}
          </fieldset>
        ) : (
          <label key={question.id}>
            {text}
            <textarea name={`q${question.id}`} maxLength={1000} onInput={(e) => setAnswers({ ...answers, [question.id]: (e.target as HTMLTextAreaElement).value })} />
          </label>
        );
      })}
      <button class="primary" type="submit">
        {t('ka.survey.submit')}
      </button>
      {error !== null && <ErrorBox error={error} />}
    </form>
  );
}

export function Survey() {
  const state = useAsync(() => get<Questionnaire[]>('/key-accounts/surveys/questionnaires'));
  const [thanked, setThanked] = useState(false);
  return (
    <section aria-labelledby="survey-title">
      <h1 id="survey-title">{t('ka.survey')}</h1>
      {thanked && (
        <p class="ok" role="status">
          {t('ka.survey.thanks')}
        </p>
      )}
      <Show state={state}>
        {(list) =>
          list.length === 0 ? (
            <p class="muted">{t('ka.survey.none')}</p>
          ) : (
            <>
              {list.map((q) => (
                <Form
                  key={q.id}
                  q={q}
                  done={() => {
                    setThanked(true);
                    state.reload();
                  }}
                />
              ))}
            </>
          )
        }
      </Show>
    </section>
  );
}
