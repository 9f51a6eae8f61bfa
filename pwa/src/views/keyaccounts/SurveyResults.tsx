// Survey results for managers and the back office (R93, R111): the satisfaction index overall and
// per group, each question (scores 1–5, opinions) and each customer, over the caller's portfolio.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { label, lang, t, when } from '../../i18n';
import { get } from '../../lib/api';
import { Show, useAsync } from '../common';

interface Questionnaire {
  id: number;
  title: string;
}

interface Results {
  responses: number;
  satisfaction: number | null;
  groups: { key: string; responses: number; satisfaction: number | null }[];
  questions: {
    question_id: number;
    text_zh: string;
    text_en: string;
    kind: 'score' | 'text';
    answered: number;
    scores: number[];
    satisfaction: number | null;
    texts: string[];
  }[];
  customers: { customer_id: number; number: string; name: string; channel: string; satisfaction: number | null; created_at: string }[];
}

const S = '/key-accounts/surveys';
const index = (v: number | null) => (v === null ? '—' : v.toFixed(1));

function ResultsView({ id, base }: { id: number; base: string }) {
  const [groupBy, setGroupBy] = useState('abc');
  const state = useAsync(() => get<Results>(`${S}/questionnaires/${id}/results?group_by=${groupBy}`), [id, groupBy]);
  return (
    <Show state={state}>
      {(r) => (
        <div data-testid="survey-results">
          <p class="card" data-testid="survey-index">
            {t('ka.results.index', { index: index(r.satisfaction), n: r.responses })}
          </p>
          <label>
            {t('ka.results.group_by')}
            <select name="group_by" value={groupBy} onChange={(e) => setGroupBy((e.target as HTMLSelectElement).value)}>
              {['abc', 'manager', 'grid'].map((g) => (
                <option key={g} value={g}>
                  {t(`ka.results.by.${g}`)}
                </option>
              ))}
            </select>
          </label>
          <ul class="list" data-testid="survey-groups">
            {r.groups.map((g) => (
              <li key={g.key} class="item">
                {g.key || '—'} · {t('ka.results.index', { index: index(g.satisfaction), n: g.responses })}
              </li>
            ))}
          </ul>
          <h2>{t('ka.results.questions')}</h2>
          <ul class="list" data-testid="survey-questions">
            {r.questions.map((q) => (
              <li key={q.question_id} class="item">
                <strong>{lang.value === 'zh-CN' ? q.text_zh : q.text_en}</strong>
                {q.kind === 'score' ? (
                  <div>
                    {t('ka.results.index', { index: index(q.satisfaction), n: q.answered })}
                    <div class="muted">{q.scores.map((n, i) => `${i + 1}: ${n}`).join(' · ')}</div>
                  </div>
                ) : (
                  <ul>
                    {q.texts.map((text, i) => (
                      <li key={i}>{text}</li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ul>
          <h2>{t('ka.results.customers')}</h2>
          <ul class="list" data-testid="survey-customers">
            {r.customers.map((c) => (
              <li key={c.customer_id}>
                <a class="item" href={`${base}/customer/${c.customer_id}`}>
                  {c.name} <span class="muted">{c.number}</span> · {index(c.satisfaction)} · {label('ka.channel', c.channel)} · {when(c.created_at)}
                </a>
              </li>
            ))}
          </ul>
        </div>
      )}
    </Show>
  );
}

export function SurveyResults() {
  const base = useLocation().path.startsWith('/operator') ? '/operator' : '/inspector';
  const list = useAsync(() => get<Questionnaire[]>(`${S}/questionnaires`), []);
  const [chosen, setChosen] = useState<number | null>(null);
  return (
    <section aria-labelledby="results-title">
      <h1 id="results-title">{t('ka.results')}</h1>
      <Show state={list}>
        {(qns) =>
          qns.length === 0 ? (
            <p class="card">{t('ka.results.none')}</p>
          ) : (
            <>
              <label>
                {t('ka.results.questionnaire')}
                <select name="questionnaire" value={chosen ?? qns[0].id} onChange={(e) => setChosen(Number((e.target as HTMLSelectElement).value))}>
                  {qns.map((q) => (
                    <option key={q.id} value={q.id}>
                      {q.title}
                    </option>
                  ))}
                </select>
              </label>
              <ResultsView id={chosen ?? qns[0].id} base={base} />
            </>
          )
        }
      </Show>
    </section>
  );
}
