import test from 'ava';
import { Prng } from '../src/prng.js';
import { Scheduler } from '../src/sim/scheduler.js';
import { SimStorage } from '../src/sim/sim-storage.js';
import { BlockStore } from '../src/storage/block-store.js';
import { pattern } from './helpers/disk.js';

const capacityBytes = 2 ** 30;

/** What block 5 of global map 1 reads at `epoch`: its first byte, or 0 for zeros. */
function firstByte(store: BlockStore, epoch: number): number {
  const into = new Uint8Array(4096);
  store.read({ gmap: 1, epoch, block: 5 }, 1, into);
  if (into.some((byte) => byte !== into[0])) throw new Error('block is mixed');
  return into[0]!;
}

/**
 * Block 5 of global map 1 written at epochs 0 (0x0a) and 1 (0x0b), both durable, then trimmed at
 * epoch 1 (the older version makes the trim store a hole in place of epoch 1's data) and the
 * process killed before a flush: the crash keeps the trim or loses it. The store reopened.
 */
function tornTrim(seed: number): { store: BlockStore; storage: SimStorage } {
  const scheduler = new Scheduler();
  const storage = new SimStorage(scheduler, new Prng(seed), {
    latencyMsMax: 1,
    flushErrorRate: 0,
    keepUnflushedRate: 0.5,
    tearRate: 0,
  });
  const store = new BlockStore(storage, capacityBytes);
  store.write(1, 0, 5, pattern(0x0a));
  store.write(1, 1, 5, pattern(0x0b));
  storage.flush();
  scheduler.runUntil(10);
  store.trim(1, 1, 5, 1);
  storage.crash();
  return { store: new BlockStore(storage, capacityBytes), storage };
}

test('a crash in the middle of a trim never uncovers an older epoch: the block reads as before the trim or as zeros', (t) => {
  const outcomes = new Map<number, number>();
  for (let seed = 1; seed <= 200; seed++) {
    const { store } = tornTrim(seed);
    const seen = firstByte(store, 1);
    t.true(seen === 0x0b || seen === 0, `seed ${seed}: epoch 1 reads ${seen.toString(16)}`);
    t.is(firstByte(store, 0), 0x0a, `seed ${seed}: epoch 0 keeps its data`);
    outcomes.set(seen, (outcomes.get(seen) ?? 0) + 1);
  }
  t.true(
    (outcomes.get(0) ?? 0) > 0 && (outcomes.get(0x0b) ?? 0) > 0,
    `both outcomes happen: ${JSON.stringify([...outcomes])}`,
  );
});

test('a trim cut short by a crash reads alike at its own epoch and at every later one (recovery copies each epoch as read)', (t) => {
  const outcomes = new Map<number, number>();
  for (let seed = 1; seed <= 200; seed++) {
    const { store } = tornTrim(seed);
    const atItsEpoch = firstByte(store, 1);
    for (const later of [2, 3, 7])
      t.is(firstByte(store, later), atItsEpoch, `seed ${seed}: epoch ${later} against epoch 1`);
    outcomes.set(atItsEpoch, (outcomes.get(atItsEpoch) ?? 0) + 1);
  }
  // The hole and the delete of epoch 1's data are one region entry: a crash keeps both or neither.
  t.true(
    (outcomes.get(0) ?? 0) > 0 && (outcomes.get(0x0b) ?? 0) > 0,
    `the crash kept the trim and lost it: ${JSON.stringify([...outcomes])}`,
  );
});

test('a slot an overwrite let go of is not reused before a flush: a crash that brings the old key back finds its data', (t) => {
  const outcomes = new Map<string, number>();
  for (let seed = 1; seed <= 200; seed++) {
    const scheduler = new Scheduler();
    const storage = new SimStorage(scheduler, new Prng(seed), {
      latencyMsMax: 1,
      flushErrorRate: 0,
      keepUnflushedRate: 0.5,
      tearRate: 0,
    });
    let store = new BlockStore(storage, capacityBytes);
    store.write(1, 0, 5, pattern(0x0a));
    storage.flush();
    scheduler.runUntil(10);
    // Unflushed: block 5 moves from slot 0 to slot 1, then other blocks are written; none may take
    // slot 0, which a crash can make block 5's again.
    store.write(1, 0, 5, pattern(0x0b));
    for (let block = 6; block < 10; block++) store.write(1, 0, block, pattern(block));
    storage.crash();
    store = new BlockStore(storage, capacityBytes);
    let seen: string;
    try {
      seen = firstByte(store, 0).toString(16);
    } catch (error) {
      // The new key survived but not the new data (a power loss): the unflushed write reads as torn.
      seen = (error as Error).message;
    }
    t.true(
      ['a', 'b', 'checksum mismatch in gmap 1 block 5 epoch 0 (slot 1)'].includes(seen),
      `seed ${seed}: block 5 reads ${seen}`,
    );
    outcomes.set(seen, (outcomes.get(seen) ?? 0) + 1);
  }
  t.is(outcomes.size, 3, `every outcome happens: ${JSON.stringify([...outcomes])}`);
});
