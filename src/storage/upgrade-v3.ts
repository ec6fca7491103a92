import { blocksPerRegion, regionKey } from './block-keys.js';
import type { LmdbStorage } from './lmdb-storage.js';
import { RegionEntry } from './region-entry.js';

/** Old keys rewritten per step: each step is synced before the next, so memory stays bounded. */
const pageKeys = 4096;

/**
 * Rewrites a version-3 disk's per-block keys as version 4's region entries (block-keys.ts), in
 * place, block data untouched. Version 3 kept a key per block and epoch:
 *
 *   | key                          | value                                          |
 *   |------------------------------|------------------------------------------------|
 *   | b:<gmap 8>:<block 12>:<epoch 8> | u32 LE slot, u32 LE CRC32C; empty: lost     |
 *   | h:<gmap 8>:<block 12>:<epoch 8> | empty: a hole at this epoch                 |
 *
 * Each step puts the region entries before it deletes the old keys, and LMDB commits in order, so
 * a crash part-way leaves old keys whose blocks are already in entries: the next open merges them
 * again, to the same result. Data and a hole at the same epoch (a torn trim) keep the data, as
 * version 3 read them.
 */
export async function upgradeFromVersion3(storage: LmdbStorage): Promise<void> {
  for (const kind of ['b', 'h'] as const) {
    for (;;) {
      const page = storage.range(`${kind}:`, `${kind};`, pageKeys);
      if (page.length === 0) break;
      const entries = new Map<string, RegionEntry>();
      for (const [key, value] of page) {
        const [, gmap, block, epoch] = key.split(':').map((part) => parseInt(part, 16)) as [
          number,
          number,
          number,
          number,
        ];
        const region = regionKey(gmap, Math.floor(block / blocksPerRegion), epoch);
        let entry = entries.get(region);
        if (!entry) {
          const stored = storage.get(region);
          entry = stored ? RegionEntry.of(stored) : RegionEntry.empty();
          entries.set(region, entry);
        }
        const i = block % blocksPerRegion;
        if (kind === 'h') {
          if (!entry.has(i)) entry.setHole(i);
        } else if (value.length === 8) {
          const view = new DataView(value.buffer, value.byteOffset, 8);
          entry.setData(i, view.getUint32(0, true), view.getUint32(4, true));
        } else entry.setLost(i);
      }
      for (const [region, entry] of entries) storage.put(region, entry.encode());
      for (const [key] of page) storage.delete(key);
      await storage.sync();
    }
  }
}
