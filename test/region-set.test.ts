import test from 'ava';
import { RegionSet } from '../src/storage/region-set.js';

test('a region set holds pairs per scope, lists them by global map then region, and forgets emptied scopes', (t) => {
  const set = new RegionSet();
  set.add('stale', 2, 7);
  set.add('stale', 1, 300);
  set.add('stale', 1, 4);
  set.add('busy', 1, 4);
  set.add('stale', 1, 4);
  t.true(set.has('stale', 1, 4));
  t.false(set.has('stale', 2, 4));
  t.false(set.has('1:stale', 1, 4));
  t.deepEqual(set.list('stale'), [
    { gmap: 1, region: 4 },
    { gmap: 1, region: 300 },
    { gmap: 2, region: 7 },
  ]);
  t.true(set.delete('busy', 1, 4));
  t.false(set.delete('busy', 1, 4));
  t.deepEqual(set.list('busy'), []);
  t.deepEqual(set.scopeNames, ['stale']);
  for (const { gmap, region } of set.list('stale')) set.delete('stale', gmap, region);
  t.deepEqual(set.scopeNames, []);
});
