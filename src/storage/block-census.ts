import type { ActorStorage } from '../actors/actor.js';
import { crc32c } from '../actors/crc32c.js';
import type { SlotFile } from '../actors/slot-file.js';
import { decodeEntry, slotOf, type BlockEntry } from './block-entry.js';
import { blockBytes, blockKeysFrom, blockKeysTo } from './block-keys.js';
import { SlotAllocator } from './slot-allocator.js';

/**
 * Block keys read per step of the pass at open. Each key read costs a few hundred bytes of heap
 * until its step ends (the key string, a copy of its entry, the range's map): 65,536 per step
 * raised the daemon's peak RSS by about 50 MiB at every start on a filled data directory.
 */
const pageKeys = 4096;
/** Slots beyond twice the capacity the block file may reach while freed slots wait for a flush. */
const slotHeadroom = 65536;
const lostEntry = new Uint8Array(0);

/**
 * What a disk holds, found when it opens: one pass over the block keys (8-byte values, a few
 * pages per 1,000 blocks) counts the blocks and finds the slots in use. An entry pointing past
 * any slot the file can have becomes a lost block.
 */
export function takeCensus(storage: ActorStorage, blocks: SlotFile, capacityBytes: number): { allocatedBlocks: number; slots: SlotAllocator } {
  const used: number[] = [];
  const slotLimit = 2 * Math.ceil(capacityBytes / blockBytes) + slotHeadroom;
  let allocatedBlocks = 0;
  for (let from: string | undefined = blockKeysFrom; from !== undefined; ) {
    const page = storage.range(from, blockKeysTo, pageKeys);
    for (const [key, value] of page) {
      const slot = slotOf(value);
      if (slot === undefined) continue;
      if (slot < slotLimit) used.push(slot);
      else storage.put(key, lostEntry);
    }
    allocatedBlocks += page.length;
    from = page.length === pageKeys ? `${page[page.length - 1]![0]}\u0000` : undefined;
  }
  return { allocatedBlocks, slots: new SlotAllocator(unshare(storage, blocks, used), slotLimit) };
}

/**
 * LMDB never tears a value, but a damaged entry may point at another block's slot: of the keys
 * sharing a slot, the one whose checksum matches keeps it (or the first, if none does) and the
 * others become lost blocks, so that no slot is ever let go of while a key still uses it.
 */
function unshare(storage: ActorStorage, blocks: SlotFile, used: number[]): number[] {
  used.sort((a, b) => a - b);
  const shared = new Set<number>();
  for (let i = 1; i < used.length; i++) if (used[i] === used[i - 1]) shared.add(used[i]!);
  if (shared.size === 0) return used;
  const claims: Array<[string, BlockEntry]> = [];
  for (let from: string | undefined = blockKeysFrom; from !== undefined; ) {
    const page = storage.range(from, blockKeysTo, pageKeys);
    for (const [key, value] of page) {
      const entry = decodeEntry(value);
      if (typeof entry === 'object' && shared.has(entry.slot)) claims.push([key, entry]);
    }
    from = page.length === pageKeys ? `${page[page.length - 1]![0]}\u0000` : undefined;
  }
  const keeper = new Map<number, string>();
  const data = new Uint8Array(blockBytes);
  for (const [key, entry] of claims) {
    blocks.read(entry.slot, data);
    if (!keeper.has(entry.slot) && crc32c(data) === entry.crc) keeper.set(entry.slot, key);
  }
  for (const [key, entry] of claims) {
    if (!keeper.has(entry.slot)) keeper.set(entry.slot, key);
    if (keeper.get(entry.slot) !== key) storage.put(key, lostEntry);
  }
  return [...new Set(used)];
}
