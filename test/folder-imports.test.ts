import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** The folders under src/ each folder imports from (its own excluded). */
function folderImports(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) addFile(full);
    }
  };
  const folderOf = (file: string): string => path.relative(srcDir, file).split(path.sep)[0]!;
  const addFile = (file: string): void => {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const match of fs.readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), match[1]!);
      if (!target.startsWith(srcDir + path.sep)) continue;
      const to = folderOf(target);
      if (to !== from && !to.endsWith('.js')) edges.add(to);
    }
  };
  walk(srcDir);
  return graph;
}

/** A cycle through the folder graph, as a path, or undefined. */
function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, trail: string[]): string[] | undefined => {
    if (state.get(node) === 'open') return [...trail.slice(trail.indexOf(node)), node];
    if (state.get(node) === 'done') return undefined;
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next, [...trail, node]);
      if (cycle) return cycle;
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return undefined;
}

test('no two folders under src/ import each other, directly or in a circle', (t) => {
  const graph = folderImports();
  t.true(graph.has('model') && graph.has('groups') && graph.has('volumes'), 'the graph covers the tree');
  t.is(findCycle(graph)?.join(' → '), undefined);
});

test('the shared model (layout, catalog, region keys) imports from no folder that consumes it', (t) => {
  const imports = [...(folderImports().get('model') ?? [])].sort();
  t.deepEqual(imports, ['storage']);
});

test('the cycle finder finds a cycle (so the test above can fail)', (t) => {
  const graph = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a'])],
  ]);
  t.deepEqual(findCycle(graph), ['a', 'b', 'c', 'a']);
});
