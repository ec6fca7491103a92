import test from 'ava';
import { MemoryStorage } from '../src/actors/memory-storage.js';
import { BlockStore } from '../src/storage/block-store.js';
import { mergeWay, type Stamp } from '../src/storage/stamps.js';
import { pattern, startDisk, temporaryDirectory } from './helpers/disk.js';

const stamp = (term: number, seq: number): Stamp => ({ term, seq });

/** First byte of block `block` of gmap 1 at epoch 0, 'z' for zeros, and its stamp. */
function look(store: BlockStore, block: number): [number | 'z', Stamp | undefined] {
  const into = new Uint8Array(4096);
  const versions = { stamps: [] as Array<Stamp | undefined>, epochs: [] as Array<number | undefined> };
  const holes = store.read({ gmap: 1, epoch: 0, block }, 1, into, [], versions);
  return [holes.length > 0 ? 'z' : into[0]!, versions.stamps[0]];
}

test('a disk keeps the newer version of a block: older and repeated stamps change nothing, a trim leaves a stamped hole', (t) => {
  const store = new BlockStore(new MemoryStorage(), 1024 * 4096);
  t.is(store.write(1, 0, 5, pattern(1), undefined, stamp(2, 5)), 1);
  t.is(store.write(1, 0, 5, pattern(2), undefined, stamp(2, 4)), 0, 'an older seq of the term');
  t.is(store.write(1, 0, 5, pattern(3), undefined, stamp(1, 900)), 0, 'an older term');
  t.is(store.write(1, 0, 5, pattern(4), undefined, stamp(2, 5)), 0, 'the same write again');
  t.deepEqual(look(store, 5), [1, stamp(2, 5)]);
  t.is(store.allocatedBytes, 4096, 'the refused copies took no space');

  store.trim(1, 0, 5, 1, [], stamp(2, 7));
  t.deepEqual(look(store, 5), ['z', stamp(2, 7)], 'the trim left a hole bearing its stamp');
  t.is(store.allocatedBytes, 0);
  t.is(store.write(1, 0, 5, pattern(6), undefined, stamp(2, 6)), 0, 'a write older than the trim, arriving late');
  t.deepEqual(look(store, 5), ['z', stamp(2, 7)]);
  store.trim(1, 0, 5, 1, [], stamp(2, 6));
  t.is(store.write(1, 0, 5, pattern(8), undefined, stamp(3, 1)), 1, 'a newer term writes');
  t.deepEqual(look(store, 5), [8, stamp(3, 1)]);

  // Per-block stamps (a recovery copy): each block is decided on its own.
  store.write(1, 0, 6, pattern(9), undefined, stamp(3, 2));
  const two = Buffer.concat([pattern(10), pattern(10)]);
  t.is(store.write(1, 0, 5, two, undefined, [stamp(3, 9), stamp(3, 1)]), 1);
  t.deepEqual([look(store, 5)[0], look(store, 6)[0]], [10, 9]);

  // Unstamped changes (a disk without a group) apply whatever is stored.
  store.write(1, 0, 5, pattern(11));
  t.deepEqual(look(store, 5), [11, stamp(0, 0)]);
  // A stamped trim of blocks that never held anything records nothing: a thin disk stays thin.
  store.trim(1, 0, 100, 900, [], stamp(4, 1));
  t.deepEqual(look(store, 200), ['z', undefined]);
});

test('a trim in traced regions leaves a stamped hole even where the copy held nothing, so the merge keeps it over an older write the other copy holds', (t) => {
  // Copy A lacks a failed write (seq 32) that reached copy B alone; a trim (seq 42) then went to A.
  const a = new BlockStore(new MemoryStorage(), 1024 * 4096);
  const b = new BlockStore(new MemoryStorage(), 1024 * 4096);
  b.write(1, 0, 47, pattern(32), undefined, stamp(1, 32));
  a.trim(1, 0, 40, 8, [], stamp(1, 42), [2]);
  t.deepEqual(look(a, 47), ['z', stamp(1, 42)], 'a hole bearing the trim stamp where nothing was');
  t.deepEqual(look(a, 40), ['z', stamp(1, 42)]);
  t.is(mergeWay(look(a, 47)[1], look(b, 47)[1]), 'forward', 'the trim wins: the older write is not put back');
  t.is(a.allocatedBytes, 0, 'holes take no space');
  t.is(a.write(1, 0, 47, pattern(32), undefined, stamp(1, 32)), 0, 'the older write, arriving late, changes nothing');
  // Untraced regions of the same trim stay thin: nothing is recorded where nothing was.
  a.trim(1, 0, 64, 64, [], stamp(1, 43), [5]);
  t.deepEqual(look(a, 64), ['z', undefined]);
  t.deepEqual(look(a, 80), ['z', stamp(1, 43)]);
  // Without a stamp there is nothing to order by: no trace.
  a.trim(1, 0, 96, 16, [], undefined, [6]);
  t.deepEqual(look(a, 96), ['z', undefined]);
});

test('a disk stamps a group write with the term of its fence and its seq, durably, and answers stamps and the epochs versions live in to a read that asks', async (t) => {
  const dir = temporaryDirectory();
  let disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  const fence = { group: 'group-0', term: 3 };
  t.deepEqual(await disk.write(1, 0, 5, [pattern(1), pattern(2)], false, fence, 9), { ok: true });
  t.deepEqual(await disk.write(1, 0, 6, [pattern(3)], false, fence, 8), { ok: true }, 'a late copy is answered');
  const read = await disk.read(1, 0, 4, 3, true);
  t.deepEqual(read.reply, { ok: true, holes: [0], stamps: [null, stamp(3, 9), stamp(3, 9)], epochs: [null, 0, 0] });
  t.is(read.bytes[2 * 4096], 2, 'the late, older copy changed nothing');
  t.deepEqual((await disk.read(1, 0, 5, 1)).reply, { ok: true, holes: [] }, 'stamps only when asked');
  t.like(await disk.write(1, 0, 5, [pattern(1)], false, fence, 2 ** 48), { ok: false, code: 'WHORL_BAD_ARGUMENT' });
  // Read at epoch 3, each version says where it lives: recovery puts a copy there, not at the epoch read.
  t.deepEqual(await disk.write(1, 2, 6, [pattern(4)], false, fence, 10), { ok: true });
  t.like((await disk.read(1, 3, 5, 2, true)).reply, { stamps: [stamp(3, 9), stamp(3, 10)], epochs: [0, 2] });

  t.deepEqual(await disk.ask({ op: 'flush' }), { ok: true });
  await disk.stop();
  disk = await startDisk({ path: dir, create: false });
  t.deepEqual((await disk.read(1, 0, 5, 2, true)).reply, {
    ok: true,
    holes: [],
    stamps: [stamp(3, 9), stamp(3, 9)],
    epochs: [0, 0],
  });
});

test('recovery merges by stamps: the newer copy of each block wins in either direction; between unstamped versions the marks choose', (t) => {
  t.is(mergeWay(stamp(2, 5), stamp(2, 4)), 'forward');
  t.is(mergeWay(stamp(2, 5), stamp(3, 1)), 'back', 'the target took a write the source lacks');
  t.is(mergeWay(undefined, stamp(1, 1)), 'back');
  t.is(mergeWay(stamp(1, 1), undefined), 'forward');
  t.is(mergeWay(stamp(2, 5), stamp(2, 5)), undefined, 'equal: nothing to copy');
  t.is(mergeWay(undefined, undefined), undefined);
  t.is(mergeWay(stamp(0, 0), stamp(0, 0)), 'forward', 'stores from before stamps: the source the marks chose');
  t.is(mergeWay(undefined, stamp(0, 0)), 'forward');
  t.is(mergeWay(stamp(0, 0), stamp(1, 1)), 'back');
});

test('data torn by a crash (failing their checksum) are no version: an older stamped copy repairs them', (t) => {
  const storage = new MemoryStorage();
  const store = new BlockStore(storage, 1024 * 4096);
  store.write(1, 0, 7, pattern(1), undefined, stamp(2, 5));
  // The store's first block took slot 0: tear it.
  storage.blocks!.write(0, pattern(0x55));
  t.throws(() => look(store, 7), { message: /checksum mismatch/ });
  t.is(store.write(1, 0, 7, pattern(2), undefined, stamp(1, 1)), 1);
  t.deepEqual(look(store, 7), [2, stamp(1, 1)]);
  t.is(store.write(1, 0, 7, pattern(3), undefined, stamp(1, 0)), 0, 'sound data keep their standing');
});
