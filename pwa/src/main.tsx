import { render } from 'preact';
import { App } from './app';
import { lang } from './i18n';
import { registerServiceWorker } from './lib/sw-register';
import './styles.css';

document.documentElement.lang = lang.value;
render(<App />, document.getElementById('app')!);
registerServiceWorker();
