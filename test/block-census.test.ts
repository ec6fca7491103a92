import test from 'ava';
import { MemoryStorage } from '../src/actors/memory-storage.js';
import { BlockStore } from '../src/storage/block-store.js';
import { blockEntry, pattern } from './helpers/disk.js';

const capacityBytes = 64 * 4096;

function readByte(store: BlockStore, block: number): number | string {
  const into = new Uint8Array(4096);
  try {
    store.read({ gmap: 1, epoch: 0, block }, 1, into);
    return into[0]!;
  } catch (error) {
    return (error as Error).message;
  }
}

test("at open, an entry that shares another block's slot or points past the file becomes a lost block; the good block keeps its slot", (t) => {
  const storage = new MemoryStorage();
  let store = new BlockStore(storage, capacityBytes);
  for (const block of [1, 2, 3]) store.write(1, 0, block, pattern(block));
  const get = (key: string): Uint8Array | undefined => storage.get(key);
  const one = blockEntry(get, 1, 1, 0);
  // Damage as a failing medium might: block 2 points at block 1's slot (its own checksum kept),
  // block 3 at a slot no file of this capacity has.
  const two = blockEntry(get, 1, 2, 0);
  two.entry.setData(two.index, one.slot, two.crc);
  two.entry.setData(3, 4_000_000, 0);
  storage.put(two.key, two.entry.encode());
  store = new BlockStore(storage, capacityBytes);
  t.is(readByte(store, 1), 1, 'the block whose checksum matches keeps the slot');
  t.regex(String(readByte(store, 2)), /^gmap 1 block 2 epoch 0 was lost/);
  t.regex(String(readByte(store, 3)), /^gmap 1 block 3 epoch 0 was lost/);
  t.is(store.allocatedBytes, 3 * 4096, 'lost blocks still count until written again');

  // Rewriting the lost block must not let go of block 1's slot: fill the disk's slots and check.
  store.write(1, 0, 2, pattern(0x22));
  store.slots.settle(store.slots.seal(), true);
  for (let block = 10; block < 40; block++) store.write(1, 0, block, pattern(block));
  t.is(readByte(store, 1), 1, 'block 1 survives every later write');
  t.is(readByte(store, 2), 0x22);
});

test('the pass at open goes over the entries in steps: 2,500 region entries open with every block counted, and a slot shared across steps is found', (t) => {
  const regions = 2500;
  const last = (regions - 1) * 16;
  const storage = new MemoryStorage();
  let store = new BlockStore(storage, (regions + 64) * 4096);
  for (let region = 0; region < regions; region++) store.write(1, 0, region * 16, pattern(region % 251));
  // The last block (in the third step of 1,024 entries) points at the first block's slot.
  const get = (key: string): Uint8Array | undefined => storage.get(key);
  const first = blockEntry(get, 1, 0, 0);
  const lastEntry = blockEntry(get, 1, last, 0);
  lastEntry.entry.setData(lastEntry.index, first.slot, lastEntry.crc);
  storage.put(lastEntry.key, lastEntry.entry.encode());

  store = new BlockStore(storage, (regions + 64) * 4096);
  t.is(store.allocatedBytes, regions * 4096);
  t.regex(String(readByte(store, last)), /was lost/);
  // New data goes to slots no entry uses: every old block still reads as written.
  for (let region = regions; region < regions + 32; region++) store.write(1, 0, region * 16, pattern(region % 251));
  for (let region = 0; region < regions - 1; region += 97)
    t.is(readByte(store, region * 16), region % 251, `region ${region}`);
  t.is(readByte(store, 0), 0);
});
