// The service centre (95598): disconnect review and approvals, arrears, live commands, offline
// meters, the collection success rate, field flags for supervisors, held readings, key accounts,
// the 95598 work orders (queue, intake, detail, overdue work and indicators) and the
// transformer areas (outages, line loss, quality, load).
import { lazy, Route, Router } from 'preact-iso';
import { t } from '../../i18n';
import { me } from '../../lib/api';
import { Tabs } from '../common';
import { Arrears, Disconnect } from './Disconnect';
import { FlagReview } from './FlagReview';
import { CommandView, Commands } from './Commands';
import { CollectionRate, OfflineMeters } from './Network';
import { Quarantine } from './Quarantine';
import { Areas } from './Areas';
import { PostpaidArrears } from './PostpaidArrears';
import { AccountBills } from './AccountBills';
import { KnowledgeBase } from '../servicedesk/Answers';
import { IndicatorsView, Intake, OrderView, Overdue, Queue } from '../servicedesk/Desk';
import { ChangeQueue } from '../lifecycle/ChangeQueue';

const Portfolio = lazy(() => import('../keyaccounts/Portfolio').then((m) => m.Portfolio));
const Customer360 = lazy(() => import('../keyaccounts/Customer360').then((m) => m.Customer360));
const ExpansionQueue = lazy(() => import('../expansion/Desk').then((m) => m.ExpansionQueue));
const ExpansionView = lazy(() => import('../expansion/Desk').then((m) => m.ExpansionView));
const ExpansionFigures = lazy(() => import('../expansion/Desk').then((m) => m.ExpansionFigures));
const SurveyResults = lazy(() => import('../keyaccounts/SurveyResults').then((m) => m.SurveyResults));
const OrgTree = lazy(() => import('../keyaccounts/OrgTree').then((m) => m.OrgTree));

export function Operator() {
  // a supervisor lands on overdue work orders and the indicators (R65); the disconnect screen
  // moves one tab along for them
  const supervising = me.value?.role === 'supervisor';
  return (
    <>
      <Tabs
        base="/operator"
        tabs={[
          ...((supervising
            ? [
                ['', t('op.tab.overdue')],
                ['/orders', t('op.tab.orders')],
                ['/disconnect', t('op.tab.disconnect')],
              ]
            : [
                ['/orders', t('op.tab.orders')],
                ['', t('op.tab.disconnect')],
              ]) as [string, string][]),
          ['/changes', t('op.tab.changes')],
          ['/arrears', t('op.tab.arrears')],
          ['/postpaid-arrears', t('op.tab.pp_arrears')],
          ['/commands', t('op.tab.commands')],
          ['/meters', t('op.tab.offline')],
          ['/rate', t('op.tab.rate')],
          ['/flags', t('op.tab.flags')],
          ['/held', t('op.tab.held')],
          ['/indicators', t('op.tab.indicators')],
          ['/kb', t('op.tab.kb')],
          ['/key-accounts', t('ka.tab.key_accounts')],
          ['/areas', t('op.tab.areas')],
          ['/expansion', t('yk.tab.queue')],
          ['/expansion-figures', t('yk.tab.indicators')],
        ]}
      />
      <Router>
        <Route path="/" component={supervising ? Overdue : Disconnect} />
        <Route path="/disconnect" component={Disconnect} />
        <Route path="/changes" component={ChangeQueue} />
        <Route path="/arrears" component={Arrears} />
        <Route path="/postpaid-arrears" component={PostpaidArrears} />
        <Route path="/bills/:id" component={AccountBills} />
        <Route path="/commands" component={Commands} />
        <Route path="/commands/:id" component={CommandView} />
        <Route path="/meters" component={OfflineMeters} />
        <Route path="/rate" component={CollectionRate} />
        <Route path="/flags" component={FlagReview} />
        <Route path="/held" component={Quarantine} />
        <Route path="/orders" component={Queue} />
        <Route path="/orders/new" component={Intake} />
        <Route path="/orders/:id" component={OrderView} />
        <Route path="/overdue" component={Overdue} />
        <Route path="/indicators" component={IndicatorsView} />
        <Route path="/kb" component={KnowledgeBase} />
        <Route path="/key-accounts" component={Portfolio} />
        <Route path="/customer/:id" component={Customer360} />
        <Route path="/surveys" component={SurveyResults} />
        <Route path="/org" component={OrgTree} />
        <Route path="/areas" component={Areas} />
        <Route path="/expansion" component={ExpansionQueue} />
        <Route path="/expansion/:id" component={ExpansionView} />
        <Route path="/expansion-figures" component={ExpansionFigures} />
      </Router>
    </>
  );
}
