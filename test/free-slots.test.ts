import test from 'ava';
import { Prng } from '../src/prng.js';
import { FreeSlots } from '../src/storage/free-slots.js';
import { SlotAllocator } from '../src/storage/slot-allocator.js';

const freed = (...slots: number[]): FreeSlots => {
  const free = new FreeSlots();
  for (const slot of slots) free.add(slot);
  return free;
};
/** `slots` free, with the cursor left at `cursor` (by taking the slot just before it first). */
const freedAt = (cursor: number, ...slots: number[]): FreeSlots => {
  const free = freed(cursor - 1);
  free.take(1);
  for (const slot of slots) free.add(slot);
  return free;
};
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

test('a request for several slots gets them in a row when a run is free, past scattered free slots', (t) => {
  const free = freed(0, 2, 4, 6, ...range(10, 26), 30);
  t.deepEqual(free.take(16), range(10, 26));
  t.is(free.size, 5);
});

test('runs are found across word boundaries and longer than a word', (t) => {
  t.deepEqual(freed(1, ...range(28, 48)).take(16), range(28, 44));
  t.deepEqual(freed(3, ...range(40, 141)).take(100), range(40, 140));
  t.deepEqual(freed(...range(31, 33), ...range(64, 128)).take(64), range(64, 128), 'a run of 64 is two whole words');
});

test("with no run free, the request takes the first free slots from the cursor, ascending, and the rest is the caller's", (t) => {
  const free = freed(9, 3, 7, 1);
  t.deepEqual(free.take(3), [1, 3, 7]);
  t.deepEqual(free.take(4), [9], 'only what is free');
  t.is(free.size, 0);
  t.deepEqual(free.take(2), []);
});

test('a request for a run gets all of it or nothing, even when fewer slots are free than asked for', (t) => {
  const free = freed(...range(0, 5));
  t.deepEqual(free.takeRun(8), []);
  t.deepEqual(free.takeRun(6), []);
  t.is(free.size, 5);
  t.deepEqual(free.takeRun(5), range(0, 5));
});

test('slots are handed out next-fit: the search resumes after the last slots taken, and wraps', (t) => {
  const free = freed(...range(0, 16), ...range(64, 80), ...range(128, 144));
  t.deepEqual(free.take(16), range(0, 16));
  for (const slot of range(0, 16)) free.add(slot);
  t.deepEqual(free.take(16), range(64, 80), 'not the run just given back at the start');
  t.deepEqual(free.take(16), range(128, 144));
  t.deepEqual(free.take(16), range(0, 16), 'wrapped round to the start');
});

test('a run that starts before the cursor and goes on past it is found', (t) => {
  t.deepEqual(freedAt(20, ...range(10, 30)).take(16), range(10, 26), 'cursor in the middle of the run');
  t.deepEqual(
    freedAt(40, ...range(20, 60)).take(32),
    range(20, 52),
    'a run over a word boundary, cursor in the second word',
  );
  t.deepEqual(freedAt(20, 5, ...range(10, 30)).take(16), range(10, 26), 'not the gather that starts at the cursor');
});

test('freeing a free slot is a bug and says which slot', (t) => {
  const free = freed(70);
  t.throws(() => free.add(70), { message: /slot 70 freed twice/ });
});

test('random takes and frees never hand out a slot twice, and find a run whenever one exists', (t) => {
  const prng = new Prng(11);
  const free = new FreeSlots();
  const model = new Set<number>();
  const slots = 5000;
  for (let step = 0; step < 20_000; step++) {
    if (prng.int(2) === 0) {
      const slot = prng.int(slots);
      if (!model.has(slot)) {
        free.add(slot);
        model.add(slot);
      }
      continue;
    }
    const count = 1 + prng.int(40);
    const runExists = [...model].some((first) => range(first, first + count).every((slot) => model.has(slot)));
    const taken = free.take(count);
    t.is(taken.length, Math.min(count, model.size));
    for (const [i, slot] of taken.entries()) {
      if (!model.delete(slot)) return t.fail(`step ${step}: slot ${slot} was not free`);
      if (i > 0 && slot <= taken[i - 1]!) return t.fail(`step ${step}: not ascending: ${taken.join(',')}`);
    }
    if (runExists && taken[taken.length - 1]! - taken[0]! !== count - 1)
      return t.fail(`step ${step}: a run of ${count} was free but ${taken.join(',')} was taken`);
    t.is(free.size, model.size);
  }
});

test('a multi-block write gets slots in a row: a free run, else new ones at the end within the slack, else scattered ones', (t) => {
  const slots = new SlotAllocator(range(0, 40_000), 100_000);
  // Random 4 KiB overwrites let go of scattered slots; then a whole region's old slots go.
  for (const slot of [3, 17, 40, 9, ...range(48, 64)]) slots.release(slot);
  slots.settle(slots.seal(), true);
  t.deepEqual(slots.take(16), range(48, 64), 'the free run');
  t.deepEqual(slots.take(2), [40_000, 40_001], 'no free run of 2: new slots, the file is within its slack');
  t.deepEqual(slots.take(1), [3], 'a single block takes a free slot first');

  const crowded = new SlotAllocator(range(0, 40_000), 100_000);
  for (let slot = 0; slot < 20_000; slot += 2) crowded.release(slot);
  crowded.settle(crowded.seal(), true);
  t.deepEqual(crowded.take(2), [0, 2], '10,000 slots free out of 40,000: past the slack, scattered free slots');
  t.is(crowded.endSlot, 40_000);

  const small = new SlotAllocator(range(0, 40_000), 100_000);
  for (const slot of [7, 8, 9]) small.release(slot);
  small.settle(small.seal(), true);
  t.deepEqual(small.take(5), range(40_000, 40_005), 'three free in a row are not five');
});
