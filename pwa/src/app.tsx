import type { ComponentType } from 'preact';
import { lazy, LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { useEffect } from 'preact/hooks';
import { lang, setLang, t } from './i18n';
import { api, homeFor, logout, type Me, me, online } from './lib/api';
import { attentionCount, outboxCount, refreshCounts } from './lib/outbox';
import { startSync } from './lib/sync';
import { Login } from './views/Login';

const Inspector = lazy(() => import('./views/inspector/Inspector').then((m) => m.Inspector));
const Customer = lazy(() => import('./views/customer/Customer').then((m) => m.Customer));
const Operator = lazy(() => import('./views/operator/Operator').then((m) => m.Operator));
const Totp = lazy(() => import('./views/Totp').then((m) => m.Totp));

function Home() {
  const { route } = useLocation();
  useEffect(() => route(homeFor(me.value?.role), true), []);
  return null;
}

/** A role's screens, or a redirect home (to log in, or to the caller's own screens). */
function only(roles: Me['role'][], View: ComponentType) {
  return function Guarded() {
    const { route } = useLocation();
    const allowed = me.value !== null && roles.includes(me.value.role) && !me.value.totp_enrolment_required;
    useEffect(() => {
      if (!allowed) route(homeFor(me.value?.role), true);
    }, [allowed]);
    return allowed ? <View /> : null;
  };
}

const InspectorPage = only(['inspector'], Inspector);
const CustomerPage = only(['customer'], Customer);
const OperatorPage = only(['operator', 'supervisor', 'admin'], Operator);

/** Two-step login: any logged-in staff member (it is where an operator must go first). */
function TotpPage() {
  const { route } = useLocation();
  const allowed = me.value !== null && me.value.role !== 'customer';
  useEffect(() => {
    if (!allowed) route(homeFor(me.value?.role), true);
  }, [allowed]);
  return allowed ? <Totp /> : null;
}

/** Switch the app's language; a customer's choice is also the language their notices and SMS are
 * worded in, so it is kept on the server too (best effort: offline, the app still switches). */
function switchLanguage(): void {
  const next = lang.value === 'zh-CN' ? 'en' : 'zh-CN';
  setLang(next);
  const customer = me.value?.role === 'customer' ? me.value.customer_id : null;
  if (customer != null) void api('PUT', `/customers/${customer}/language`, { language: next }).catch(() => undefined);
}

function Header() {
  const { route } = useLocation();
  const pending = outboxCount.value + attentionCount.value;
  return (
    <header class="top">
      <a class="brand" href="/">
        meterline
      </a>
      <span class={online.value ? 'net on' : 'net off'} role="status" data-testid="net">
        {online.value ? t('online') : t('offline')}
      </span>
      {me.value?.role === 'inspector' && pending > 0 && (
        <a class="badge" href="/inspector/outbox" aria-label={t('outbox.waiting', { n: pending })} data-testid="outbox-badge">
          ⇪ {pending}
        </a>
      )}
      {me.value && me.value.role !== 'customer' && !me.value.totp_enabled && (
        <a class="link" href="/totp" data-testid="totp-link">
          {t('totp.link')}
        </a>
      )}
      <button class="link" type="button" lang={lang.value === 'zh-CN' ? 'en' : 'zh-CN'} onClick={switchLanguage} aria-label={t('switch.language')}>
        {lang.value === 'zh-CN' ? 'EN' : '中文'}
      </button>
      {me.value && (
        <button
          class="link"
          type="button"
          onClick={async () => {
            if (pending > 0 && !confirm(t('logout.pending', { n: pending }))) return;
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
  useEffect(() => {
    // whatever waits on this device goes out at start and whenever the network returns; after
    // the first screen is up, so opening IndexedDB never delays it
    const begin = () => {
      void refreshCounts();
      startSync();
    };
    if ('requestIdleCallback' in window) requestIdleCallback(begin, { timeout: 2000 });
    else setTimeout(begin, 0);
  }, []);
  return (
    <LocationProvider>
      <Header />
      <main>
        <Router>
          <Route path="/" component={Home} />
          <Route path="/login" component={Login} />
          <Route path="/totp" component={TotpPage} />
          {/* "/x/*" does not match "/x" itself in preact-iso: both, same component (no remount) */}
          <Route path="/inspector" component={InspectorPage} />
          <Route path="/inspector/*" component={InspectorPage} />
          <Route path="/customer" component={CustomerPage} />
          <Route path="/customer/*" component={CustomerPage} />
          <Route path="/operator" component={OperatorPage} />
          <Route path="/operator/*" component={OperatorPage} />
          <Route default component={Home} />
        </Router>
      </main>
    </LocationProvider>
  );
}
