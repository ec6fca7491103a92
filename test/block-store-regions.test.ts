import test from 'ava';
import { MemoryStorage } from '../src/actors/memory-storage.js';
import { BlockStore } from '../src/storage/block-store.js';

const capacityBytes = 1024 * 4096;

/** A run of blocks each filled with its own number (mod 251) plus `salt`. */
function blocks(first: number, count: number, salt: number): Uint8Array {
  const data = new Uint8Array(count * 4096);
  for (let i = 0; i < count; i++) data.fill((first + i + salt) % 251, i * 4096, (i + 1) * 4096);
  return data;
}

/** First byte of each block of [first, first + count) at `epoch`, 'z' for a hole. */
function readBack(store: BlockStore, epoch: number, first: number, count: number): Array<number | 'z'> {
  const into = new Uint8Array(count * 4096);
  const holes = new Set(store.read({ gmap: 1, epoch, block: first }, count, into));
  return Array.from({ length: count }, (_, i) => (holes.has(i) ? 'z' : into[i * 4096]!));
}

test('writes, trims and epochs across region edges: every block reads its own version, and space follows', (t) => {
  const store = new BlockStore(new MemoryStorage(), capacityBytes);
  // Blocks 10..41 cross regions 0, 1 and 2 (16 blocks each).
  store.write(1, 0, 10, blocks(10, 32, 0));
  t.is(store.allocatedBytes, 32 * 4096);
  // At epoch 1: overwrite 14..17 (across the 0/1 edge), trim 20..35 (across the 1/2 edge).
  store.write(1, 1, 14, blocks(14, 4, 100));
  store.trim(1, 1, 20, 16);
  const expect = (epoch: number): Array<number | 'z'> =>
    Array.from({ length: 40 }, (_, i) => {
      const block = 6 + i;
      if (block < 10 || block > 41) return 'z';
      if (epoch >= 1 && block >= 14 && block <= 17) return (block + 100) % 251;
      if (epoch >= 1 && block >= 20 && block <= 35) return 'z';
      return block % 251;
    });
  t.deepEqual(readBack(store, 0, 6, 40), expect(0), 'epoch 0 keeps everything');
  t.deepEqual(readBack(store, 1, 6, 40), expect(1), 'epoch 1: its overwrite and its holes');
  t.deepEqual(readBack(store, 5, 6, 40), expect(1), 'a later epoch reads as epoch 1');
  t.deepEqual(store.allocatedRuns(1, 1, 0, 48), [
    [10, 10],
    [36, 6],
  ]);
  t.deepEqual(store.allocatedRuns(1, 0, 0, 48), [[10, 32]]);
  t.is(store.allocatedBytes, 36 * 4096, 'epoch 0 keeps its 32 blocks; epoch 1 adds 4');

  // Epoch 0 no longer live: its versions hidden at epoch 1 go (4 overwritten, 16 trimmed), and
  // the holes that hid them go too, leaving nothing to hide.
  t.is(store.prune(1, 0, 48, [1]), 20 * 4096);
  t.deepEqual(readBack(store, 1, 6, 40), expect(1));
  t.is(store.allocatedBytes, 16 * 4096);
  t.is(store.allocatedBytesOf(1), 16 * 4096);

  // A trim of everything at epoch 1 frees epoch 1's own 4 blocks; epoch 0's 12 that it still saw
  // stay (older epochs keep theirs) behind holes, until a prune finds no live epoch sees them.
  store.trim(1, 1, 0, 48);
  t.is(store.allocatedBytes, 12 * 4096);
  t.deepEqual(readBack(store, 1, 0, 48), Array(48).fill('z'));
  t.deepEqual(readBack(store, 0, 10, 4), [10, 11, 12, 13]);
  t.is(store.prune(1, 0, 48, [1]), 12 * 4096);
  t.is(store.allocatedBytes, 0);
  t.deepEqual(readBack(store, 1, 0, 48), Array(48).fill('z'));
});

test('a lost block in a region keeps failing reads until rewritten, and its neighbours read on', (t) => {
  const store = new BlockStore(new MemoryStorage(), capacityBytes);
  store.write(1, 0, 0, blocks(0, 16, 0));
  store.lose(1, 0, 7);
  t.is(store.allocatedBytes, 16 * 4096, 'a lost block still counts');
  t.deepEqual(readBack(store, 0, 0, 7), [0, 1, 2, 3, 4, 5, 6]);
  t.throws(() => readBack(store, 0, 6, 2), { message: /gmap 1 block 7 epoch 0 was lost/ });
  store.write(1, 0, 7, blocks(7, 1, 50));
  t.deepEqual(readBack(store, 0, 6, 3), [6, 57, 8]);
  t.is(store.allocatedBytes, 16 * 4096);
});
