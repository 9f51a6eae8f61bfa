// The organisation tree for the back office (R110): province → city → district → grid, each with
// the grids, customers and key accounts below it in the viewer's scope.
import { t } from '../../i18n';
import { get } from '../../lib/api';
import { Show, useAsync } from '../common';

interface OrgNode {
  key: string;
  parent: string | null;
  level: 'province' | 'city' | 'district' | 'grid';
  code: string;
  name: string;
  manager: string | null;
  grids: number;
  customers: number;
  key_accounts: number;
}

function Branch({ node, children }: { node: OrgNode; children: Map<string | null, OrgNode[]> }) {
  const below = children.get(node.key) ?? [];
  return (
    <li data-testid={`org-${node.code}`} data-level={node.level}>
      <strong>{node.name}</strong> <span class="muted">{t(`ka.org_level.${node.level}`)}</span>
      <div class="muted">
        {node.level !== 'grid' && `${t('ka.org_tree.grids', { n: node.grids })} · `}
        {t('ka.org_tree.customers', { n: node.customers })} · {t('ka.org_tree.key_accounts', { n: node.key_accounts })}
        {node.manager && ` · ${t('ka.org_tree.manager', { name: node.manager })}`}
      </div>
      {below.length > 0 && (
        <ul class="tree">
          {below.map((n) => (
            <Branch key={n.key} node={n} children={children} />
          ))}
        </ul>
      )}
    </li>
  );
}

export function OrgTree() {
  const state = useAsync(() => get<OrgNode[]>('/key-accounts/org-tree'), []);
  return (
    <section aria-labelledby="org-title">
      <h1 id="org-title">{t('ka.org_tree')}</h1>
      <Show state={state}>
        {(nodes) => {
          const keys = new Set(nodes.map((n) => n.key));
          const children = new Map<string | null, OrgNode[]>();
          for (const n of nodes) {
            const parent = n.parent !== null && keys.has(n.parent) ? n.parent : null;
            children.set(parent, [...(children.get(parent) ?? []), n]);
          }
          const roots = children.get(null) ?? [];
          return roots.length === 0 ? (
            <p class="card">{t('ka.org_tree.none')}</p>
          ) : (
            <ul class="tree" data-testid="org-tree">
              {roots.map((n) => (
                <Branch key={n.key} node={n} children={children} />
              ))}
            </ul>
          );
        }}
      </Show>
    </section>
  );
}
