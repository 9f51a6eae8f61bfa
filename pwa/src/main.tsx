import { render } from 'preact';
import { App } from './app';
import { lang } from './i18n';
import { watchStaleChunks } from './lib/stale-chunk';
import { registerServiceWorker } from './lib/sw-register';
import './styles.css';

watchStaleChunks();
document.documentElement.lang = lang.value;
render(<App />, document.getElementById('app')!);
registerServiceWorker();
