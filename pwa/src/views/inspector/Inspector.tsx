// The inspector's app (抄表员 / 客户经理): works offline from the cached reading book.
import { lazy, Route, Router, useLocation } from 'preact-iso';
import { useEffect } from 'preact/hooks';
import { online } from '../../lib/api';
import { startSync } from '../../lib/sync';
import { t } from '../../i18n';
import { Tabs } from '../common';
import { loadBook } from './book';
import { Capture } from './Capture';
import { Flags } from './Flags';
import { NearbyPopup } from './Nearby';
import { OutboxView } from './OutboxView';
import { Repair } from './Repair';
import { RouteList } from './RouteList';
import { CrewOrders } from '../servicedesk/CrewOrders';

const RouteMap = lazy(() => import('./RouteMap').then((m) => m.RouteMap));
const Portfolio = lazy(() => import('../keyaccounts/Portfolio').then((m) => m.Portfolio));
const Customer360 = lazy(() => import('../keyaccounts/Customer360').then((m) => m.Customer360));
const SurveyResults = lazy(() => import('../keyaccounts/SurveyResults').then((m) => m.SurveyResults));
const Visits = lazy(() => import('../keyaccounts/Visits').then((m) => m.Visits));
const ExpansionQueue = lazy(() => import('../expansion/Desk').then((m) => m.ExpansionQueue));
const ExpansionView = lazy(() => import('../expansion/Desk').then((m) => m.ExpansionView));

export function Inspector() {
  const { path } = useLocation();
  useEffect(() => {
    startSync();
    void loadBook();
  }, []);
  // back online: the book may have changed (done marks, flags) — fetch it again
  useEffect(() => {
    if (online.value) void loadBook();
  }, [online.value]);
  return (
    <>
      <Tabs
        base="/inspector"
        tabs={[
          ['', t('insp.tab.route')],
          ['/map', t('insp.tab.map')],
          ['/outbox', t('insp.tab.outbox')],
          ['/flags', t('insp.tab.flags')],
          ['/repair', t('insp.tab.repair')],
          ['/orders', t('insp.tab.orders')],
          ['/expansion', t('yk.tab.queue')],
          ['/portfolio', t('ka.tab.portfolio')],
          ['/visits', t('ka.tab.visits')],
        ]}
      />
      {!path.startsWith('/inspector/meter/') && <NearbyPopup />}
      <Router>
        <Route path="/" component={RouteList} />
        <Route path="/map" component={RouteMap} />
        <Route path="/meter/:seq" component={Capture} />
        <Route path="/outbox" component={OutboxView} />
        <Route path="/flags" component={Flags} />
        <Route path="/repair" component={Repair} />
        <Route path="/orders" component={CrewOrders} />
        <Route path="/portfolio" component={Portfolio} />
        <Route path="/customer/:id" component={Customer360} />
        <Route path="/surveys" component={SurveyResults} />
        <Route path="/visits" component={Visits} />
        <Route path="/expansion" component={ExpansionQueue} />
        <Route path="/expansion/:id" component={ExpansionView} />
      </Router>
    </>
  );
}
