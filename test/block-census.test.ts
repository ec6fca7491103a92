import test from 'ava';
import { MemoryStorage } from '../src/actors/memory-storage.js';
import { decodeEntry, encodeEntry } from '../src/storage/block-entry.js';
import { blockKey } from '../src/storage/block-keys.js';
import { BlockStore } from '../src/storage/block-store.js';
import { pattern } from './helpers/disk.js';

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

test('at open, an entry that shares another block\'s slot or points past the file becomes a lost block; the good block keeps its slot', (t) => {
  const storage = new MemoryStorage();
  let store = new BlockStore(storage, capacityBytes);
  for (const block of [1, 2, 3]) store.write(1, 0, block, pattern(block));
  const one = decodeEntry(storage.get(blockKey('b', 1, 1, 0))!) as { slot: number; crc: number };
  // Damage as a failing medium might: block 2 points at block 1's slot (its own checksum kept),
  // block 3 at a slot no file of this capacity has.
  const two = decodeEntry(storage.get(blockKey('b', 1, 2, 0))!) as { slot: number; crc: number };
  storage.put(blockKey('b', 1, 2, 0), encodeEntry({ slot: one.slot, crc: two.crc }));
  storage.put(blockKey('b', 1, 3, 0), encodeEntry({ slot: 4_000_000, crc: 0 }));

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

test('the pass at open goes over the keys in steps: a disk of 10,000 blocks opens with every block counted, and a slot shared across steps is found', (t) => {
  const blocks = 10_000;
  const storage = new MemoryStorage();
  let store = new BlockStore(storage, (blocks + 64) * 4096);
  for (let block = 0; block < blocks; block += 16) {
    const data = new Uint8Array(16 * 4096);
    for (let i = 0; i < 16; i++) data.fill((block + i) % 251, i * 4096, (i + 1) * 4096);
    store.write(1, 0, block, data);
  }
  // The last block (in the third step of 4,096 keys) points at the first block's slot.
  const first = decodeEntry(storage.get(blockKey('b', 1, 0, 0))!) as { slot: number; crc: number };
  const last = decodeEntry(storage.get(blockKey('b', 1, blocks - 1, 0))!) as { slot: number; crc: number };
  storage.put(blockKey('b', 1, blocks - 1, 0), encodeEntry({ slot: first.slot, crc: last.crc }));

  store = new BlockStore(storage, (blocks + 64) * 4096);
  t.is(store.allocatedBytes, blocks * 4096);
  t.regex(String(readByte(store, blocks - 1)), /was lost/);
  // New data goes to slots no key uses: every old block still reads as written.
  for (let block = blocks; block < blocks + 32; block++) store.write(1, 0, block, pattern(block));
  for (let block = 0; block < blocks - 1; block += 97) t.is(readByte(store, block), block % 251, `block ${block}`);
  t.is(readByte(store, 0), 0);
});
