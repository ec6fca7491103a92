import test from 'ava';
import { isIsolated, PeerReach } from '../src/cluster/reach.js';

const set = (...nodes: string[]) => new Set(nodes);

test('a node that reaches no peer of three stands down; the two that reach each other go on', (t) => {
  const live = set('n1', 'n2', 'n3');
  t.true(isIsolated({ self: 'n1', live, reached: set(), monitor: 'n2' }));
  t.false(isIsolated({ self: 'n2', live, reached: set('n3'), monitor: 'n2' }));
  t.false(isIsolated({ self: 'n3', live, reached: set('n2'), monitor: 'n2' }));
  // The monitor cut off alone stands down too: the other side holds the majority.
  t.true(isIsolated({ self: 'n2', live, reached: set(), monitor: 'n2' }));
});

test("two equal halves: the monitor's side goes on, the other stands down; with no monitor, neither", (t) => {
  const live = set('n1', 'n2');
  t.false(isIsolated({ self: 'n1', live, reached: set(), monitor: 'n1' }));
  t.true(isIsolated({ self: 'n2', live, reached: set(), monitor: 'n1' }));
  t.false(isIsolated({ self: 'n2', live, reached: set(), monitor: undefined }));
  const four = set('a', 'b', 'c', 'd');
  t.false(isIsolated({ self: 'a', live: four, reached: set('b'), monitor: 'b' }));
  t.true(isIsolated({ self: 'c', live: four, reached: set('d'), monitor: 'b' }));
});

test('reached peers that etcd no longer lists do not count; a gateway counts as a node', (t) => {
  const live = set('n1', 'n2', 'n3', 'gw');
  t.true(isIsolated({ self: 'n1', live, reached: set('gone'), monitor: 'n2' }));
  t.false(isIsolated({ self: 'n1', live, reached: set('gw', 'n3'), monitor: 'n2' }));
});

test('a peer whose link is down counts as reached for the grace period only', (t) => {
  let up = false;
  const reach = new PeerReach(() => up, 1_000);
  const live = set('a', 'b');
  t.deepEqual([...reach.reached('a', live, 0)], ['b'], 'just seen: in grace');
  t.deepEqual([...reach.reached('a', live, 999)], ['b']);
  t.deepEqual([...reach.reached('a', live, 1_000)], []);
  up = true;
  t.deepEqual([...reach.reached('a', live, 1_500)], ['b']);
  up = false;
  t.deepEqual([...reach.reached('a', live, 1_600)], ['b'], 'down again: a new grace');
  t.deepEqual([...reach.reached('a', live, 2_600)], []);
});
