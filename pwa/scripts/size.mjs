// First-load JS budget: what a phone downloads to show the login screen, gzipped.
// Reads the Vite manifest of the last build (npm run build): the entry chunk, every chunk it
// imports statically (what index.html modulepreloads), and the service-worker registration the
// entry loads right after start. Lazy routes (inspector, customer, operator, map, charts) are
// listed but not counted. Exit code 1 when over budget.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_KB = 150;
const dist = new URL('../dist/', import.meta.url).pathname;
let manifest;
try {
  manifest = JSON.parse(readFileSync(join(dist, '.vite/manifest.json'), 'utf8'));
} catch {
  console.error('dist/.vite/manifest.json is missing: run `npm run build` first');
  process.exit(2);
}

const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const kb = (bytes) => (bytes / 1024).toFixed(1).padStart(7);

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
const first = new Set();
(function walk(key) {
  const chunk = manifest[key];
  if (!chunk || first.has(chunk.file)) return;
  first.add(chunk.file);
  for (const dep of chunk.imports ?? []) walk(dep);
})(entryKey);
// started by the entry at load (src/lib/sw-register.ts): counted, it is part of the first visit
const startup = Object.values(manifest).filter((c) => c.src?.includes('workbox-window') || c.name?.includes('workbox-window'));
for (const c of startup) first.add(c.file);

let total = 0;
console.log('first load (counted):');
for (const file of first) {
  const size = gz(file);
  total += size;
  console.log(`  ${kb(size)} KB  ${file}`);
}
console.log('later, on demand (not counted):');
for (const c of Object.values(manifest)) {
  if (!c.file.endsWith('.js') || first.has(c.file)) continue;
  console.log(`  ${kb(gz(c.file))} KB  ${c.file}`);
}
const verdict = total / 1024 <= BUDGET_KB ? 'within' : 'OVER';
console.log(`first-load JS: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET_KB} KB): ${verdict} budget`);
process.exit(verdict === 'within' ? 0 : 1);
