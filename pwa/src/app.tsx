import { lazy, LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { useEffect } from 'preact/hooks';
import { logout, me, online } from './api';
import { lang, setLang, t } from './i18n';
import { attentionCount, outboxCount, refreshCounts } from './outbox';
import { Login } from './views/Login';

const Inspector = lazy(() => import('./views/inspector/Inspector').then((m) => m.Inspector));
const Customer = lazy(() => import('./views/customer/Customer').then((m) => m.Customer));
const Operator = lazy(() => import('./views/operator/Operator').then((m) => m.Operator));

export function homeFor(role: string | undefined): string {
  if (role === 'customer') return '/customer';
  if (role === 'inspector') return '/inspector';
  if (role) return '/operator';
  return '/login';
}

function Home() {
  const { route } = useLocation();
  useEffect(() => route(homeFor(me.value?.role), true), []);
  return null;
}

function Header() {
  const { route } = useLocation();
  const pending = outboxCount.value + attentionCount.value;
  return (
    <header class="top">
      <a class="brand" href="/">
        meterline
      </a>
      <span class={online.value ? 'net on' : 'net off'} role="status">
        {online.value ? t('online') : t('offline')}
      </span>
      {me.value?.role === 'inspector' && pending > 0 && (
        <a class="badge" href="/inspector/outbox" aria-label={t('outbox.waiting', { n: pending })}>
          ⇪ {pending}
        </a>
      )}
      <button
        class="link"
        type="button"
        onClick={() => setLang(lang.value === 'zh-CN' ? 'en' : 'zh-CN')}
        aria-label={t('switch.language')}
      >
        {lang.value === 'zh-CN' ? 'EN' : '中文'}
      </button>
      {me.value && (
        <button
          class="link"
          type="button"
          onClick={async () => {
            await logout();
            route('/login');
          }}
        >
          {t('logout')}
        </button>
      )}
    </header>
  );
}

export function App() {
  useEffect(() => void refreshCounts(), []);
  return (
    <LocationProvider>
      <Header />
      <main>
        <Router>
          <Route path="/" component={Home} />
          <Route path="/login" component={Login} />
          <Route path="/inspector/*" component={Inspector} />
          <Route path="/customer/*" component={Customer} />
          <Route path="/operator/*" component={Operator} />
          <Route default component={Home} />
        </Router>
      </main>
    </LocationProvider>
  );
}
