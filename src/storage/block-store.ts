import { fail } from '../assert.js';
import type { ActorStorage } from '../actors/actor.js';
import { crc32c } from '../actors/crc32c.js';
import type { SlotFile } from '../actors/slot-file.js';
import { WhorlError } from '../errors.js';
import { takeCensus } from './block-census.js';
import { decodeEntry, encodeEntry, slotOf, type BlockEntry } from './block-entry.js';
import { blockBytes, blockKey, blockPrefix, epochOfKey, everyKeyOf, gmapKeyRange, parseBlockKey } from './block-keys.js';
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
 * storage's block file and whose keys say which slot and what CRC32C (block-entry.ts), versions per
 * epoch, holes, and the space they take against the disk's capacity.
 */
export class BlockStore {
  private allocatedBlocks: number;
  /** False while no hole was ever stored: writes then skip looking for one to remove. */
  private mayHaveHoles: boolean;
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
    const [holesFrom, holesTo] = everyKeyOf('h');
    this.mayHaveHoles = storage.keys(holesFrom, holesTo, 1).length > 0;
  }

  get allocatedBytes(): number {
    return this.allocatedBlocks * blockBytes;
  }

  /**
   * Copies blocks [block, block + count) as of `epoch` (the newest version at or below it) into
   * `into`; zeros where never written or a hole. Where the disk's own global map has no version of
   * a block, the `base` layers (a clone's snapshot, in order) are asked. Returns the indexes (0 ..
   * count - 1) that read as holes. A checksum mismatch is an error naming the block.
   */
  read(address: BlockAddress, count: number, into: Uint8Array, base: readonly Layer[] = noLayers): number[] {
    if (into.length !== count * blockBytes) fail(`read of ${count} blocks into ${into.length} bytes`);
    const holes: number[] = [];
    const found: Array<{ at: number; version: Found; entry: BlockEntry }> = [];
    for (let at = 0; at < count; at++) {
      const block = address.block + at;
      let version = this.find(address.gmap, address.epoch, block);
      for (let i = 0; version === undefined && i < base.length; i++) version = this.find(base[i]!.gmap, base[i]!.epoch, block);
      if (version === undefined || version === 'hole') {
        into.fill(0, at * blockBytes, (at + 1) * blockBytes);
        holes.push(at);
        continue;
      }
      const entry = decodeEntry(version.value);
      if (entry === 'lost') throw new WhorlError('WHORL_CHECKSUM', `gmap ${version.gmap} block ${block} epoch ${version.epoch} was lost: crashes tore it on both copies; it reads as an error until written again`);
      if (entry === 'damaged') throw new WhorlError('WHORL_CHECKSUM', `gmap ${version.gmap} block ${block} epoch ${version.epoch} has a damaged entry (${version.value.length} bytes)`);
      found.push({ at, version, entry });
    }
    // Blocks written together sit in consecutive slots: one read per run.
    for (let first = 0; first < found.length; ) {
      let last = first;
      while (last + 1 < found.length && found[last + 1]!.at === found[last]!.at + 1 && found[last + 1]!.entry.slot === found[last]!.entry.slot + 1) last += 1;
      const from = found[first]!;
      this.blocks.read(from.entry.slot, into.subarray(from.at * blockBytes, (found[last]!.at + 1) * blockBytes));
      first = last + 1;
    }
    for (const { at, version, entry } of found) {
      const bytes = into.subarray(at * blockBytes, (at + 1) * blockBytes);
      if (crc32c(bytes) !== entry.crc) throw new WhorlError('WHORL_CHECKSUM', `checksum mismatch in gmap ${version.gmap} block ${address.block + at} epoch ${version.epoch} (slot ${entry.slot})`);
    }
    return holes;
  }

  /** The version of a block one global map shows at `epoch`: its entry, a hole, or none at all. */
  private find(gmap: number, epoch: number, block: number): Found | 'hole' | undefined {
    const value = this.storage.get(blockKey('b', gmap, block, epoch));
    // The value is a view valid until the next storage call: copy the 8 bytes.
    if (value) return { gmap, epoch, value: Buffer.from(value) };
    // Not written in this epoch: the newest older version, unless a newer hole hides it. Data and a
    // hole at the same epoch exist only after a crash tore an unflushed trim or write between its
    // two keys; data wins, as it does at that epoch itself (above) and in visibleAt, so that every
    // epoch reads the block alike (sim client-async seed 152 --busy-regions-max 1: the copies read
    // the same at epoch 1 and differently at epochs 2 and 3, and recovery copies per epoch).
    const data = epoch > 0 ? this.storage.floor(blockKey('b', gmap, block, epoch), blockPrefix('b', gmap, block)) : undefined;
    const hole = this.mayHaveHoles ? this.storage.floor(blockKey('h', gmap, block, epoch), blockPrefix('h', gmap, block)) : undefined;
    if (data && (!hole || epochOfKey(data[0]) >= epochOfKey(hole[0]))) return { gmap, epoch: epochOfKey(data[0]), value: Buffer.from(data[1]) };
    return hole ? 'hole' : undefined;
  }

  /**
   * Writes `data` (whole blocks) at [block, …) in `epoch`, or, when the blocks it would add do not
   * fit, refuses the whole request with WHORL_NO_SPACE and changes nothing. The data goes to fresh
   * slots (never over a slot a key points at), then the keys move to them.
   */
  write(gmap: number, epoch: number, block: number, data: Uint8Array): void {
    if (data.length === 0 || data.length % blockBytes !== 0) fail(`write of ${data.length} bytes`);
    const count = data.length / blockBytes;
    const keys: string[] = [];
    const replaced: Array<number | undefined> = [];
    let added = 0;
    for (let i = 0; i < count; i++) {
      const key = blockKey('b', gmap, block + i, epoch);
      const old = this.storage.get(key);
      keys.push(key);
      replaced.push(slotOf(old));
      if (!old) added += 1;
    }
    if ((this.allocatedBlocks + added) * blockBytes > this.capacityBytes) {
      throw new WhorlError('WHORL_NO_SPACE', `disk full: ${this.allocatedBytes} of ${this.capacityBytes} bytes used, ${added * blockBytes} more needed`);
    }
    const slots = this.slots.take(count);
    try {
      for (let first = 0; first < count; ) {
        let last = first;
        while (last + 1 < count && slots[last + 1] === slots[last]! + 1) last += 1;
        this.blocks.write(slots[first]!, data.subarray(first * blockBytes, (last + 1) * blockBytes));
        first = last + 1;
      }
    } catch (error) {
      this.slots.giveBack(slots);
      throw error;
    }
    this.allocatedBlocks += added;
    for (let i = 0; i < count; i++) {
      const crc = crc32c(data.subarray(i * blockBytes, (i + 1) * blockBytes));
      this.storage.put(keys[i]!, encodeEntry({ slot: slots[i]!, crc }));
      if (replaced[i] !== undefined) this.slots.release(replaced[i]!);
      if (!this.mayHaveHoles) continue;
      const hole = blockKey('h', gmap, block + i, epoch);
      if (this.storage.get(hole)) this.storage.delete(hole);
    }
  }

  /**
   * Marks a block lost (an empty entry): every read of it fails until it is written again.
   * Recovery uses it for a block whose only up-to-date copy was torn, so that neither copy serves
   * an older version in its place.
   */
  lose(gmap: number, epoch: number, block: number): void {
    const key = blockKey('b', gmap, block, epoch);
    const old = this.storage.get(key);
    if (!old) this.allocatedBlocks += 1;
    const slot = slotOf(old);
    if (slot !== undefined) this.slots.release(slot);
    this.storage.put(key, lostEntry);
    const hole = blockKey('h', gmap, block, epoch);
    if (this.mayHaveHoles && this.storage.get(hole)) this.storage.delete(hole);
  }

  /**
   * Makes [block, block + count) read as zeros at `epoch` and frees their space; older epochs keep
   * theirs. Visits only blocks that have versions, so trimming a thin disk's empty range is cheap.
   */
  trim(gmap: number, epoch: number, block: number, count: number, base: readonly Layer[] = noLayers): void {
    const versions = this.storage.keys(...blockRange('b', gmap, block, count));
    const needsHole = new Set<number>();
    // A clone's hole must also hide what its base layers hold there.
    for (const layer of base) {
      for (const key of this.storage.keys(...blockRange('b', layer.gmap, block, count))) {
        const version = parseBlockKey(key);
        if (version.epoch <= layer.epoch) needsHole.add(version.block);
      }
    }
    const parsed = versions.map(parseBlockKey);
    for (const version of parsed) if (version.epoch < epoch) needsHole.add(version.block);
    // Holes first: a crash that keeps only the first writes of this trim must not uncover an
    // older epoch's data where this epoch's data was deleted.
    if (needsHole.size > 0) this.mayHaveHoles = true;
    for (const hidden of needsHole) this.storage.put(blockKey('h', gmap, hidden, epoch), new Uint8Array(0));
    for (const version of parsed) {
      if (version.epoch === epoch) this.forget(blockKey('b', gmap, version.block, epoch));
    }
  }

  /** Deletes a block's key and lets its slot go. */
  private forget(key: string): void {
    const slot = slotOf(this.storage.get(key));
    if (slot !== undefined) this.slots.release(slot);
    this.storage.delete(key);
    this.allocatedBlocks -= 1;
  }

  /** Runs [first, count] of blocks in [block, block + count) that hold data as of `epoch` (then `base`). */
  allocatedRuns(gmap: number, epoch: number, block: number, count: number, base: readonly Layer[] = noLayers): Array<[number, number]> {
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

  /** Every stored version (data and holes) of blocks [block, block + count) of one global map. */
  private versionsIn(gmap: number, block: number, count: number): Map<number, Version[]> {
    const versions = new Map<number, Version[]>();
    for (const kind of ['b', 'h'] as const) {
      for (const key of this.storage.keys(...blockRange(kind, gmap, block, count))) {
        const parsed = parseBlockKey(key);
        const list = versions.get(parsed.block) ?? [];
        list.push({ epoch: parsed.epoch, hole: kind === 'h' });
        versions.set(parsed.block, list);
      }
    }
    return versions;
  }

  /**
   * Deletes, in blocks [block, block + count) of `gmap`, every version no live epoch sees (a
   * deleted snapshot's garbage). Returns the bytes freed.
   */
  prune(gmap: number, block: number, count: number, live: readonly number[]): number {
    let freed = 0;
    for (const [at, versions] of this.versionsIn(gmap, block, count)) {
      const needed = neededVersions(versions, live);
      for (const version of versions) {
        if (needed.has(version)) continue;
        if (version.hole) {
          this.storage.delete(blockKey('h', gmap, at, version.epoch));
          continue;
        }
        this.forget(blockKey('b', gmap, at, version.epoch));
        freed += blockBytes;
      }
    }
    return freed;
  }

  /** Bytes of blocks [block, block + count) of `gmap` whose data only `epoch` of the live epochs sees. */
  heldAloneBytes(gmap: number, block: number, count: number, epoch: number, live: readonly number[]): number {
    let bytes = 0;
    for (const versions of this.versionsIn(gmap, block, count).values()) if (heldAlone(versions, epoch, live)) bytes += blockBytes;
    return bytes;
  }

  /**
   * The block after the `limit`-th stored block key of `gmap` from `block` on (of data or holes),
   * so that a scan of a whole global map can go in bounded steps; undefined past the last one.
   */
  nextStep(gmap: number, block: number, limit: number): number | undefined {
    let end: number | undefined;
    for (const kind of ['b', 'h'] as const) {
      const [, to] = gmapKeyRange(kind, gmap);
      const keys = this.storage.keys(blockPrefix(kind, gmap, block), to, limit);
      if (keys.length === 0) continue;
      const last = parseBlockKey(keys[keys.length - 1]!).block + 1;
      end = end === undefined ? last : Math.min(end, last);
    }
    return end;
  }

  allocatedBytesOf(gmap: number): number {
    const [from, to] = gmapKeyRange('b', gmap);
    return this.storage.count(from, to) * blockBytes;
  }

  /** Forgets every version and hole of every block of `gmap` (a deleted virtual disk). */
  drop(gmap: number): void {
    for (const kind of ['b', 'h'] as const) {
      const [from, to] = gmapKeyRange(kind, gmap);
      for (;;) {
        const keys = this.storage.keys(from, to, dropPageKeys);
        if (keys.length === 0) break;
        for (const key of keys) {
          if (kind === 'b') this.forget(key);
          else this.storage.delete(key);
        }
      }
    }
  }
}

const noLayers: readonly Layer[] = [];

/** The key range of every version of blocks [block, block + count): the last block's versions sort below its prefix and '~'. */
function blockRange(kind: 'b' | 'h', gmap: number, block: number, count: number): [string, string] {
  return [blockPrefix(kind, gmap, block), `${blockPrefix(kind, gmap, block + count - 1)}~`];
}

/** Keys deleted per step of a drop: bounds the memory a huge disk's drop takes. */
const dropPageKeys = 4096;
const lostEntry = new Uint8Array(0);

/** A stored version of a block: which global map and epoch hold it, and its entry's bytes. */
interface Found {
  readonly gmap: number;
  readonly epoch: number;
  readonly value: Uint8Array;
}
