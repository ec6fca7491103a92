import { fail } from '../assert.js';
import type { ActorStorage } from '../actors/actor.js';
import { crc32c } from '../actors/crc32c.js';
import type { SlotFile } from '../actors/slot-file.js';
import { blockBytes, blocksPerRegion, regionKeysFrom, regionKeysTo } from './block-keys.js';
import { RegionEntry, slotLimitMax } from './region-entry.js';
import { SlotAllocator } from './slot-allocator.js';

/**
 * Region entries read per step of the pass at open. Each entry read costs a few hundred bytes of
 * heap until its step ends (the key string, a copy of its entry, the range's map): bigger steps
 * raised the daemon's peak RSS at every start on a filled data directory.
 */
const pageEntries = 1024;
/** Slots beyond twice the capacity the block file may reach while freed slots wait for a flush. */
const slotHeadroom = 65536;

/**
 * The largest disk capacity, in whole GiB, whose slots a region entry can name (32-bit slots, up to
 * (slotLimitMax - slotHeadroom) / 2 blocks): 8191 GiB. `whorl serve` refuses more.
 */
export const capacityBytesMax = Math.floor((slotLimitMax - slotHeadroom) / 2 / (2 ** 30 / blockBytes)) * 2 ** 30;

/**
 * What a disk holds, found when it opens: one pass over the region entries (128-byte values)
 * counts the blocks and finds the slots in use. A damaged entry, or a block pointing past any slot
 * the file can have, becomes lost.
 */
export function takeCensus(
  storage: ActorStorage,
  blocks: SlotFile,
  capacityBytes: number,
): { allocatedBlocks: number; slots: SlotAllocator } {
  const used: number[] = [];
  const slotLimit = 2 * Math.ceil(capacityBytes / blockBytes) + slotHeadroom;
  if (capacityBytes > capacityBytesMax)
    fail(`capacity ${capacityBytes} bytes needs more slots than a region entry can name`);
  let allocatedBlocks = 0;
  forEachEntry(storage, (key, value) => {
    const entry = RegionEntry.of(value);
    let changed = RegionEntry.isDamaged(value);
    for (let i = 0; i < blocksPerRegion; i++) {
      if (entry.takesSpace(i)) allocatedBlocks += 1;
      if (entry.state(i) !== 'data') continue;
      if (entry.slot(i) < slotLimit) used.push(entry.slot(i));
      else {
        entry.setLost(i);
        changed = true;
      }
    }
    if (changed) storage.put(key, entry.encode());
  });
  return { allocatedBlocks, slots: new SlotAllocator(unshare(storage, blocks, used), slotLimit) };
}

function forEachEntry(storage: ActorStorage, visit: (key: string, value: Uint8Array) => void): void {
  for (let from: string | undefined = regionKeysFrom; from !== undefined;) {
    const page = storage.range(from, regionKeysTo, pageEntries);
    for (const [key, value] of page) visit(key, value);
    from = page.length === pageEntries ? `${page[page.length - 1]![0]}\u0000` : undefined;
  }
}

/**
 * LMDB never tears a value, but a damaged entry may point at another block's slot: of the blocks
 * sharing a slot, the one whose checksum matches keeps it (or the first, if none does) and the
 * others become lost blocks, so that no slot is ever let go of while an entry still uses it.
 */
function unshare(storage: ActorStorage, blocks: SlotFile, used: number[]): number[] {
  used.sort((a, b) => a - b);
  const shared = new Set<number>();
  for (let i = 1; i < used.length; i++) if (used[i] === used[i - 1]) shared.add(used[i]!);
  if (shared.size === 0) return used;
  const claims: Array<{ key: string; index: number; slot: number; crc: number }> = [];
  forEachEntry(storage, (key, value) => {
    const entry = RegionEntry.of(value);
    for (let i = 0; i < blocksPerRegion; i++) {
      if (entry.state(i) === 'data' && shared.has(entry.slot(i)))
        claims.push({ key, index: i, slot: entry.slot(i), crc: entry.crc(i) });
    }
  });
  const keeper = new Map<number, (typeof claims)[number]>();
  const data = new Uint8Array(blockBytes);
  for (const claim of claims) {
    blocks.read(claim.slot, data);
    if (!keeper.has(claim.slot) && crc32c(data) === claim.crc) keeper.set(claim.slot, claim);
  }
  for (const claim of claims) {
    if (!keeper.has(claim.slot)) keeper.set(claim.slot, claim);
    if (keeper.get(claim.slot) === claim) continue;
    const entry = RegionEntry.of(storage.get(claim.key)!);
    entry.setLost(claim.index);
    storage.put(claim.key, entry.encode());
  }
  return [...new Set(used)];
}
