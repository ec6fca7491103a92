import test from 'ava';
import { CommitTable } from '../src/storage/commit-table.js';
import { LmdbStorage } from '../src/storage/lmdb-storage.js';
import { scratchDirectory } from './helpers/scratch.js';

const mapSizeBytes = 64 * 1024 * 1024;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('writes made over many turns of the event loop within the commit delay share one commit', async (t) => {
  const table = CommitTable.create();
  const storage = new LmdbStorage({
    path: scratchDirectory('whorl-gather-'),
    mapSizeBytes,
    commits: table.buffer,
    commitDelayMs: 10_000,
  });
  t.teardown(() => storage.close());
  const before = table.generation;
  for (let i = 0; i < 20; i++) {
    storage.put(`b:${i}`, new Uint8Array([i]));
    await nextTurn();
  }
  t.is(table.generation, before, 'nothing is committed while the writes gather');
  t.deepEqual(storage.get('b:7'), new Uint8Array([7]), 'the actor reads its own writes meanwhile');
  await storage.sync();
  t.is(table.generation, before + 1, 'twenty writes, one commit');
});

test('a flush sends the gathered writes at once: when it completes they are committed and synced', async (t) => {
  const table = CommitTable.create();
  const storage = new LmdbStorage({
    path: scratchDirectory('whorl-gather-'),
    mapSizeBytes,
    commits: table.buffer,
    commitDelayMs: 10_000,
  });
  t.teardown(() => storage.close());
  storage.put('b:1', new Uint8Array([1]));
  storage.delete('b:2');
  const flushed = new Promise<boolean>((resolve) => storage.onFlushed((_token, ok) => resolve(ok)));
  storage.flush();
  t.true(await flushed);
  t.false(table.uncommitted('b:1'), 'the put was committed before the flush completed');
  t.false(table.uncommitted('b:2'), 'and the delete');
});

test('close sends the gathered writes: a reopened environment has them', async (t) => {
  const path = scratchDirectory('whorl-gather-');
  const storage = new LmdbStorage({ path, mapSizeBytes, commitDelayMs: 10_000 });
  storage.put('b:1', new Uint8Array([9]));
  storage.put('b:2', new Uint8Array([8]));
  storage.delete('b:2');
  await storage.close();
  const reopened = new LmdbStorage({ path, mapSizeBytes });
  t.teardown(() => reopened.close());
  t.deepEqual([...(reopened.get('b:1') ?? [])], [9]);
  t.is(reopened.get('b:2'), undefined, 'writes reach lmdb-js in the order they were made');
});
