// The service centre (95598): disconnect review and approvals, arrears, live commands, offline
// meters, the collection success rate, field flags for supervisors, held readings, and the
// transformer areas (outages, line loss, quality, load).
import { Route, Router } from 'preact-iso';
import { t } from '../../i18n';
import { Tabs } from '../common';
import { Arrears, Disconnect } from './Disconnect';
import { FlagReview } from './FlagReview';
import { CommandView, Commands } from './Commands';
import { CollectionRate, OfflineMeters } from './Network';
import { Quarantine } from './Quarantine';
import { Areas } from './Areas';

export function Operator() {
  return (
    <>
      <Tabs
        base="/operator"
        tabs={[
          ['', t('op.tab.disconnect')],
          ['/arrears', t('op.tab.arrears')],
          ['/commands', t('op.tab.commands')],
          ['/meters', t('op.tab.offline')],
          ['/rate', t('op.tab.rate')],
          ['/flags', t('op.tab.flags')],
          ['/held', t('op.tab.held')],
          ['/areas', t('op.tab.areas')],
        ]}
      />
      <Router>
        <Route path="/" component={Disconnect} />
        <Route path="/arrears" component={Arrears} />
        <Route path="/commands" component={Commands} />
        <Route path="/commands/:id" component={CommandView} />
        <Route path="/meters" component={OfflineMeters} />
        <Route path="/rate" component={CollectionRate} />
        <Route path="/flags" component={FlagReview} />
        <Route path="/held" component={Quarantine} />
        <Route path="/areas" component={Areas} />
      </Router>
    </>
  );
}
