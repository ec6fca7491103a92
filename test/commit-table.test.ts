import test from 'ava';
import { CommitTable } from '../src/storage/commit-table.js';
import { LmdbStorage } from '../src/storage/lmdb-storage.js';
import { scratchDirectory } from './helpers/scratch.js';

test('a disk counts a write as uncommitted until lmdb-js commits it, and moves the generation when it does', async (t) => {
  const table = CommitTable.create();
  const storage = new LmdbStorage({
    path: scratchDirectory('whorl-commits-'),
    mapSizeBytes: 64 * 1024 * 1024,
    commits: table.buffer,
  });
  t.teardown(() => storage.close());
  const before = table.generation;
  storage.put('b:1', new Uint8Array([1]));
  storage.put('b:1', new Uint8Array([2]));
  storage.delete('b:2');
  t.true(table.uncommitted('b:1'), 'a put is uncommitted until its commit');
  t.true(table.uncommitted('b:2'), 'so is a delete');
  t.false(table.uncommitted('b:3'), 'a key never written is not');
  await storage.sync();
  t.false(table.uncommitted('b:1'), 'both puts of the key are counted down at the commit');
  t.false(table.uncommitted('b:2'));
  t.true(table.generation > before, 'the commit moved the generation');
});
