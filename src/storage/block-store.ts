import { fail } from '../assert.js';
import type { ActorStorage } from '../actors/actor.js';
import { zeroFill } from '../actors/buffer-pool.js';
import { crc32c } from '../actors/crc32c.js';
import type { SlotFile } from '../actors/slot-file.js';
import { WhorlError } from '../errors.js';
import { takeCensus } from './block-census.js';
import {
  blockBytes,
  blocksPerRegion,
  gmapKeyRange,
  parseRegionKey,
  regionKey,
  regionPrefix,
  regionRange,
} from './block-keys.js';
import { RegionEntry } from './region-entry.js';
import { anyIn, forBlocksOf, RegionVersions, type Found, type Hole } from './region-versions.js';
import { applies, type Stamp } from './stamps.js';
import type { SlotAllocator } from './slot-allocator.js';
import { heldAlone, neededVersions, visibleAt, type Layer, type Version } from './versions.js';

/** Where a block lives: global map, epoch, block number. */
export interface BlockAddress {
  readonly gmap: number;
  readonly epoch: number;
  readonly block: number;
}

/**
 * The block layout of one disk over an actor's storage (LMDB and a block file in production, the
 * simulator's fault-injecting storage in tests): thin 4 KiB blocks whose data sit in slots of the
 * storage's block file and whose region entries say which slot and what CRC32C (region-entry.ts),
 * versions per epoch, holes, and the space they take against the disk's capacity.
 */
export class BlockStore {
  private allocatedBlocks: number;
  private readonly blocks: SlotFile;
  readonly slots: SlotAllocator;

  constructor(
    private readonly storage: ActorStorage,
    readonly capacityBytes: number,
  ) {
    this.blocks = storage.blocks ?? fail('a block store needs storage with a block file');
    const census = takeCensus(storage, this.blocks, capacityBytes);
    this.allocatedBlocks = census.allocatedBlocks;
    this.slots = census.slots;
  }

  get allocatedBytes(): number {
    return this.allocatedBlocks * blockBytes;
  }

  /**
   * Copies blocks [block, block + count) as of `epoch` (the newest version at or below it) into
   * `into`; zeros where never written or a hole. Where the disk's own global map has no version of
   * a block, the `base` layers (a clone's snapshot, in order) are asked. Returns the indexes (0 ..
   * count - 1) that read as holes. A checksum mismatch is an error naming the block. `versions`,
   * when given, receives each block's stamp (stamps.ts) and the epoch its version lives in: none
   * where no version holds the block, no epoch where a base layer's does.
   */
  read(
    address: BlockAddress,
    count: number,
    into: Uint8Array,
    base: readonly Layer[] = noLayers,
    versions?: { stamps: Array<Stamp | undefined>; epochs: Array<number | undefined> },
  ): number[] {
    if (into.length !== count * blockBytes) fail(`read of ${count} blocks into ${into.length} bytes`);
    const holes: number[] = [];
    const found: Found[] = [];
    const layers = [address, ...base];
    const regions = layers.map(() => new RegionVersions(this.storage));
    for (let at = 0; at < count; at++) {
      const block = address.block + at;
      let version: Found | Hole | undefined;
      for (let l = 0; version === undefined && l < layers.length; l++)
        version = regions[l]!.find(layers[l]!.gmap, layers[l]!.epoch, block, at);
      if (versions) {
        versions.stamps[at] = version?.stamp;
        versions.epochs[at] = version?.gmap === address.gmap ? version.epoch : undefined;
      }
      if (version === undefined || 'hole' in version) {
        zeroFill(into, at * blockBytes, (at + 1) * blockBytes);
        holes.push(at);
        continue;
      }
      if (version.slot === undefined)
        throw new WhorlError(
          'WHORL_CHECKSUM',
          `gmap ${version.gmap} block ${block} epoch ${version.epoch} was lost: crashes tore it on both copies; it reads as an error until written again`,
        );
      found.push(version);
    }
    // Blocks written together sit in consecutive slots: one read per run.
    for (let first = 0; first < found.length;) {
      let last = first;
      while (
        last + 1 < found.length &&
        found[last + 1]!.at === found[last]!.at + 1 &&
        found[last + 1]!.slot === found[last]!.slot! + 1
      )
        last += 1;
      const from = found[first]!;
      this.blocks.read(from.slot!, into.subarray(from.at * blockBytes, (found[last]!.at + 1) * blockBytes));
      first = last + 1;
    }
    for (const { at, gmap, epoch, slot, crc } of found) {
      const bytes = into.subarray(at * blockBytes, (at + 1) * blockBytes);
      if (crc32c(bytes) !== crc)
        throw new WhorlError(
          'WHORL_CHECKSUM',
          `checksum mismatch in gmap ${gmap} block ${address.block + at} epoch ${epoch} (slot ${slot})`,
        );
    }
    return holes;
  }

  /**
   * Writes `data` (whole blocks) at [block, …) in `epoch`, or, when the blocks it would add do not
   * fit, refuses the whole request with WHORL_NO_SPACE and changes nothing. The data goes to fresh
   * slots (never over a slot an entry points at), then the region entries move to them: one put
   * per 64 KiB region. `crcs`, when given, are the blocks' CRC32Cs (signed) computed by the sender.
   * `stamps` (one for every block, or one each) are the writes' stamps: a block stored with a newer
   * stamp keeps its version (stamps.ts). Returns how many blocks were written.
   */
  write(
    gmap: number,
    epoch: number,
    block: number,
    data: Uint8Array,
    crcs?: readonly number[],
    stamps?: Stamp | readonly Stamp[],
  ): number {
    if (data.length === 0 || data.length % blockBytes !== 0) fail(`write of ${data.length} bytes`);
    const count = data.length / blockBytes;
    const pieces = this.piecesOf(gmap, epoch, block, count);
    const replaced: number[] = [];
    /** Request indexes of the blocks this write changes. */
    const applied: number[] = [];
    let added = 0;
    for (const { entry, first, count: n, at } of pieces) {
      for (let i = 0; i < n; i++) {
        if (!this.admits(stampAt(stamps, at + i), entry, first + i)) continue;
        applied.push(at + i);
        const state = entry.state(first + i);
        if (state === 'data') replaced.push(entry.slot(first + i));
        else if (state !== 'lost') added += 1;
      }
    }
    if (applied.length === 0) return 0;
    if ((this.allocatedBlocks + added) * blockBytes > this.capacityBytes) {
      throw new WhorlError(
        'WHORL_NO_SPACE',
        `disk full: ${this.allocatedBytes} of ${this.capacityBytes} bytes used, ${added * blockBytes} more needed`,
      );
    }
    const taken = this.slots.take(applied.length);
    /** Slot of each request index written. */
    const slots = new Array<number | undefined>(count);
    applied.forEach((at, k) => (slots[at] = taken[k]));
    try {
      // One file write per run of blocks consecutive both in the request and in the block file.
      for (let k = 0; k < applied.length;) {
        let last = k;
        while (
          last + 1 < applied.length &&
          applied[last + 1] === applied[last]! + 1 &&
          taken[last + 1] === taken[last]! + 1
        )
          last += 1;
        this.blocks.write(taken[k]!, data.subarray(applied[k]! * blockBytes, (applied[last]! + 1) * blockBytes));
        k = last + 1;
      }
    } catch (error) {
      this.slots.giveBack(taken);
      throw error;
    }
    this.allocatedBlocks += added;
    for (const { key, entry, first, count: n, at } of pieces) {
      let changed = false;
      for (let i = 0; i < n; i++) {
        const slot = slots[at + i];
        if (slot === undefined) continue;
        const from = (at + i) * blockBytes;
        const crc = crcs ? crcs[at + i]! >>> 0 : crc32c(data.subarray(from, from + blockBytes));
        entry.setData(first + i, slot, crc, stampAt(stamps, at + i));
        changed = true;
      }
      if (changed) this.storage.put(key, entry.encode());
    }
    for (const slot of replaced) this.slots.release(slot);
    return applied.length;
  }

  /**
   * Marks a block lost: every read of it fails until it is written again. Recovery uses it for a
   * block whose only up-to-date copy was torn, so that neither copy serves an older version in its
   * place.
   */
  lose(gmap: number, epoch: number, block: number): void {
    const [{ key, entry, first }] = this.piecesOf(gmap, epoch, block, 1) as [Piece];
    const state = entry.state(first);
    if (state === 'data') this.slots.release(entry.slot(first));
    else if (state !== 'lost') this.allocatedBlocks += 1;
    entry.setLost(first);
    this.storage.put(key, entry.encode());
  }

  /**
   * Makes [block, block + count) read as zeros at `epoch` and frees their space; older epochs keep
   * theirs. Visits only regions that have versions, so trimming a thin disk's empty range is cheap.
   * With `stamps`, a block stored with a newer stamp keeps its version, and a block that held
   * anything at `epoch` becomes a hole bearing the trim's stamp (not nothing), so that a write
   * older than the trim that arrives after it changes nothing (stamps.ts). In the `traced`
   * regions every block of the range becomes such a hole, even one that held nothing: there this
   * copy may lack a write its partner holds, and the hole is what tells recovery's merge that the
   * trim came after it.
   */
  trim(
    gmap: number,
    epoch: number,
    block: number,
    count: number,
    base: readonly Layer[] = noLayers,
    stamps?: Stamp | readonly Stamp[],
    traced: readonly number[] = [],
  ): void {
    const end = block + count;
    // A hole is needed where an older epoch, or a clone's base layer, has data to hide.
    const needsHole = new Set<number>();
    const atEpoch = new Map<string, { region: number; entry: RegionEntry }>();
    const layers = [{ gmap, epoch }, ...base];
    for (let l = 0; l < layers.length; l++) {
      const own = l === 0;
      const layer = layers[l]!;
      for (const stored of this.regionsIn(layer.gmap, block, count)) {
        if (own && stored.epoch === epoch) atEpoch.set(stored.key, stored);
        if (own ? stored.epoch >= epoch : stored.epoch > layer.epoch) continue;
        forBlocksOf(stored.region, block, end, (i, at) => {
          if (stored.entry.takesSpace(i)) needsHole.add(at);
        });
      }
    }
    for (let region = Math.floor(block / blocksPerRegion); region * blocksPerRegion < end; region++) {
      const key = regionKey(gmap, region, epoch);
      const existing = atEpoch.get(key);
      const trace = stamps !== undefined && traced.includes(region);
      if (!existing && !trace && !anyIn(needsHole, region, block, end)) continue;
      const entry = existing?.entry ?? RegionEntry.empty();
      forBlocksOf(region, block, end, (i, at) => {
        const stamp = stampAt(stamps, at - block);
        if (!this.admits(stamp, entry, i)) return;
        const state = entry.state(i);
        if (state === 'data') this.slots.release(entry.slot(i));
        if (state === 'data' || state === 'lost') this.allocatedBlocks -= 1;
        if (needsHole.has(at) || (stamp !== undefined && (state !== 'nothing' || trace))) entry.setHole(i, stamp);
        else entry.clear(i);
      });
      if (entry.isEmpty) this.storage.delete(key);
      else this.storage.put(key, entry.encode());
    }
  }

  /**
   * Whether a change stamped `incoming` applies to block i of `entry` (stamps.ts): over an older
   * stamp, or over data that fail their checksum (torn by a crash before their write was durable:
   * no version at all). The data are checked only when the stamp would refuse the change, which
   * is rare (a late copy, a recovery copy of an older version).
   */
  private admits(incoming: Stamp | undefined, entry: RegionEntry, i: number): boolean {
    if (applies(incoming, entry.stamp(i))) return true;
    if (entry.state(i) !== 'data') return false;
    const bytes = new Uint8Array(blockBytes);
    this.blocks.read(entry.slot(i), bytes);
    return crc32c(bytes) !== entry.crc(i);
  }

  /** Runs [first, count] of blocks in [block, block + count) that hold data as of `epoch` (then `base`). */
  allocatedRuns(
    gmap: number,
    epoch: number,
    block: number,
    count: number,
    base: readonly Layer[] = noLayers,
  ): Array<[number, number]> {
    const decided = new Map<number, boolean>();
    for (const layer of [{ gmap, epoch }, ...base]) {
      for (const [at, versions] of this.versionsIn(layer.gmap, block, count)) {
        const version = decided.has(at) ? undefined : visibleAt(versions, layer.epoch);
        if (version) decided.set(at, !version.hole);
      }
    }
    const runs: Array<[number, number]> = [];
    for (const at of [...decided.keys()].sort((a, b) => a - b)) {
      if (!decided.get(at)) continue;
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === at) last[1] += 1;
      else runs.push([at, 1]);
    }
    return runs;
  }

  /** Every stored version (data, lost blocks and holes) of blocks [block, block + count) of one global map. */
  private versionsIn(gmap: number, block: number, count: number): Map<number, StoredVersion[]> {
    const versions = new Map<number, StoredVersion[]>();
    for (const stored of this.regionsIn(gmap, block, count)) {
      forBlocksOf(stored.region, block, block + count, (i, at) => {
        if (!stored.entry.has(i)) return;
        const list = versions.get(at) ?? [];
        list.push({ epoch: stored.epoch, hole: stored.entry.state(i) === 'hole', stored, index: i });
        versions.set(at, list);
      });
    }
    return versions;
  }

  /** Every region entry (of every epoch) covering blocks [block, block + count) of `gmap`. */
  private regionsIn(gmap: number, block: number, count: number): StoredRegion[] {
    const first = Math.floor(block / blocksPerRegion);
    const last = Math.floor((block + count - 1) / blocksPerRegion);
    return this.storage.range(...regionRange(gmap, first, last)).map(([key, value]) => {
      const { region, epoch } = parseRegionKey(key);
      return { key, region, epoch, entry: RegionEntry.of(value) };
    });
  }

  /** The entries at `epoch` of the regions blocks [block, block + count) fall in, as stored or empty. */
  private piecesOf(gmap: number, epoch: number, block: number, count: number): Piece[] {
    const pieces: Piece[] = [];
    for (let at = 0; at < count;) {
      const region = Math.floor((block + at) / blocksPerRegion);
      const first = (block + at) % blocksPerRegion;
      const n = Math.min(blocksPerRegion - first, count - at);
      const key = regionKey(gmap, region, epoch);
      const value = this.storage.get(key);
      pieces.push({ key, entry: value ? RegionEntry.of(value) : RegionEntry.empty(), first, count: n, at });
      at += n;
    }
    return pieces;
  }

  /**
   * Deletes, in blocks [block, block + count) of `gmap`, every version no live epoch sees (a
   * deleted snapshot's garbage). Returns the bytes freed.
   */
  prune(gmap: number, block: number, count: number, live: readonly number[]): number {
    let freed = 0;
    const changed = new Set<StoredRegion>();
    for (const versions of this.versionsIn(gmap, block, count).values()) {
      const needed = neededVersions(versions, live);
      for (const version of versions) {
        if (needed.has(version)) continue;
        const { stored, index } = version;
        const state = stored.entry.state(index);
        if (state === 'data') this.slots.release(stored.entry.slot(index));
        if (state === 'data' || state === 'lost') {
          this.allocatedBlocks -= 1;
          freed += blockBytes;
        }
        stored.entry.clear(index);
        changed.add(stored);
      }
    }
    for (const stored of changed) {
      if (stored.entry.isEmpty) this.storage.delete(stored.key);
      else this.storage.put(stored.key, stored.entry.encode());
    }
    return freed;
  }

  /** Bytes of blocks [block, block + count) of `gmap` whose data only `epoch` of the live epochs sees. */
  heldAloneBytes(gmap: number, block: number, count: number, epoch: number, live: readonly number[]): number {
    let bytes = 0;
    for (const versions of this.versionsIn(gmap, block, count).values())
      if (heldAlone(versions, epoch, live)) bytes += blockBytes;
    return bytes;
  }

  /**
   * The first block past the regions of the `limit` region entries of `gmap` from `block`'s region
   * on, so that a scan of a whole global map can go in bounded steps; undefined past the last one.
   */
  nextStep(gmap: number, block: number, limit: number): number | undefined {
    const [, to] = gmapKeyRange(gmap);
    const keys = this.storage.keys(regionPrefix(gmap, Math.floor(block / blocksPerRegion)), to, limit);
    if (keys.length === 0) return undefined;
    return (parseRegionKey(keys[keys.length - 1]!).region + 1) * blocksPerRegion;
  }

  allocatedBytesOf(gmap: number): number {
    let blocks = 0;
    this.eachEntryOf(gmap, false, (_key, entry) => {
      for (let i = 0; i < blocksPerRegion; i++) if (entry.takesSpace(i)) blocks += 1;
    });
    return blocks * blockBytes;
  }

  /** Forgets every version and hole of every block of `gmap` (a deleted virtual disk). */
  drop(gmap: number): void {
    this.eachEntryOf(gmap, true, (key, entry) => {
      for (let i = 0; i < blocksPerRegion; i++) {
        if (entry.state(i) === 'data') this.slots.release(entry.slot(i));
        if (entry.takesSpace(i)) this.allocatedBlocks -= 1;
      }
      this.storage.delete(key);
    });
  }

  /** Visits every region entry of `gmap` in pages (bounded memory); `deleting` when the visit deletes each. */
  private eachEntryOf(gmap: number, deleting: boolean, visit: (key: string, entry: RegionEntry) => void): void {
    const [from, to] = gmapKeyRange(gmap);
    for (let start: string | undefined = from; start !== undefined;) {
      const page = this.storage.range(start, to, pageEntries);
      for (const [key, value] of page) visit(key, RegionEntry.of(value));
      start = page.length < pageEntries ? undefined : deleting ? from : `${page[page.length - 1]![0]}\u0000`;
    }
  }
}

const noLayers: readonly Layer[] = [];

/** The stamp of request block `at`: the request's one stamp, its own, or none. */
function stampAt(stamps: Stamp | readonly Stamp[] | undefined, at: number): Stamp | undefined {
  if (stamps === undefined || !Array.isArray(stamps)) return stamps as Stamp | undefined;
  return (stamps as readonly Stamp[])[at];
}
/** Region entries read per step of a walk over a whole global map: bounds its memory. */
const pageEntries = 4096;

/** A stored region entry, decoded. */
interface StoredRegion {
  readonly key: string;
  readonly region: number;
  readonly epoch: number;
  readonly entry: RegionEntry;
}

/** A version of one block, with the region entry that holds it. */
interface StoredVersion extends Version {
  readonly stored: StoredRegion;
  readonly index: number;
}

/**
 * A region's entry at one epoch and the blocks [first, first + count) of it a request covers, from
 * request block `at`.
 */
interface Piece {
  readonly key: string;
  readonly entry: RegionEntry;
  readonly first: number;
  readonly count: number;
  readonly at: number;
}
