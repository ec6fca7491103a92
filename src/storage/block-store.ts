import { fail } from '../assert.js';
import type { ActorStorage } from '../actors/actor.js';
import { WhorlError } from '../errors.js';
import { blockBytes, blockKey, blockKeysFrom, blockKeysTo, blockPrefix, epochOfKey, everyKeyOf, gmapKeyRange, parseBlockKey } from './block-keys.js';
import { finishBlock, headBytes, splitBlock } from './block-record.js';
import { heldAlone, neededVersions, visibleAt, type Layer, type Version } from './versions.js';

/** Where a block lives: global map, epoch, block number. */
export interface BlockAddress {
  readonly gmap: number;
  readonly epoch: number;
  readonly block: number;
}

/**
 * The block layout of one disk over an actor's storage (LMDB in production, the simulator's
 * fault-injecting storage in tests): thin 4 KiB blocks with a CRC32C each (stored as a head and a
 * tail record, block-record.ts), versions per epoch, holes, and the space they take against the
 * disk's capacity.
 */
export class BlockStore {
  private allocatedBlocks: number;
  /** False while no hole was ever stored: writes then skip looking for one to remove. */
  private mayHaveHoles: boolean;

  constructor(
    private readonly storage: ActorStorage,
    readonly capacityBytes: number,
  ) {
    // Counting the block keys would page in the whole file (readahead over the block records):
    // the count is kept under its own key, and only a directory without one is counted.
    const kept = storage.get(allocatedKey);
    const count = kept ? Number(Buffer.from(kept).toString()) : NaN;
    this.allocatedBlocks = Number.isSafeInteger(count) && count >= 0 ? count : storage.count(blockKeysFrom, blockKeysTo);
    if (this.allocatedBlocks !== count) this.keepCount();
    const [holesFrom, holesTo] = everyKeyOf('h');
    this.mayHaveHoles = storage.keys(holesFrom, holesTo, 1).length > 0;
  }

  /** Stores the count with the writes that changed it (same commit: lmdb-js batches an event turn). */
  private keepCount(): void {
    this.storage.put(allocatedKey, Buffer.from(String(this.allocatedBlocks)));
  }

  get allocatedBytes(): number {
    return this.allocatedBlocks * blockBytes;
  }

  /**
   * Copies the block as of `epoch` (the newest version at or below it) into `into`; zeros if it
   * was never written or is a hole. Where the disk's own global map has no version of the block,
   * the `base` layers (a clone's snapshot, in order) are asked. Returns whether it holds data. A
   * checksum mismatch is an error naming the block.
   */
  read(address: BlockAddress, into: Uint8Array, base: readonly Layer[] = noLayers): boolean {
    if (into.length !== blockBytes) fail(`read into ${into.length} bytes`);
    const { block } = address;
    let found = this.find(address.gmap, address.epoch, block);
    for (let i = 0; found === undefined && i < base.length; i++) found = this.find(base[i]!.gmap, base[i]!.epoch, block);
    if (found === undefined || found === 'hole') {
      into.fill(0);
      return false;
    }
    const { gmap, epoch: storedEpoch, head } = found;
    // The head view lasts only until the next storage call: copy it before reading the tail.
    const headLength = head.length;
    if (headLength === 0) throw new WhorlError('WHORL_CHECKSUM', `gmap ${gmap} block ${block} epoch ${storedEpoch} was lost: crashes tore it on both copies; it reads as an error until written again`);
    if (headLength === headBytes) into.set(head);
    const tail = this.storage.get(blockKey('t', gmap, block, storedEpoch));
    if (headLength !== headBytes || !finishBlock(tail, into)) {
      const stored = `head ${headLength} bytes, tail ${tail ? `${tail.length} bytes` : 'missing'}`;
      throw new WhorlError('WHORL_CHECKSUM', `checksum mismatch in gmap ${gmap} block ${block} epoch ${storedEpoch} (${stored})`);
    }
    return true;
  }

  /** The version of a block one global map shows at `epoch`: its head, a hole, or none at all. */
  private find(gmap: number, epoch: number, block: number): { gmap: number; epoch: number; head: Uint8Array } | 'hole' | undefined {
    const head = this.storage.get(blockKey('b', gmap, block, epoch));
    if (head) return { gmap, epoch, head };
    // Not written in this epoch: the newest older version, unless a newer hole hides it.
    const data = epoch > 0 ? this.storage.floor(blockKey('b', gmap, block, epoch), blockPrefix('b', gmap, block)) : undefined;
    const hole = this.mayHaveHoles ? this.storage.floor(blockKey('h', gmap, block, epoch), blockPrefix('h', gmap, block)) : undefined;
    if (data && (!hole || epochOfKey(data[0]) > epochOfKey(hole[0]))) return { gmap, epoch: epochOfKey(data[0]), head: data[1] };
    return hole ? 'hole' : undefined;
  }

  /**
   * Writes `data` (whole blocks) at [block, …) in `epoch`, or, when the blocks it would add do not
   * fit, refuses the whole request with WHORL_NO_SPACE and changes nothing.
   */
  write(gmap: number, epoch: number, block: number, data: Uint8Array): void {
    if (data.length === 0 || data.length % blockBytes !== 0) fail(`write of ${data.length} bytes`);
    const count = data.length / blockBytes;
    // A block's tail is small and always stored with its head: its presence says the block is.
    let added = 0;
    for (let i = 0; i < count; i++) if (!this.storage.get(blockKey('t', gmap, block + i, epoch))) added += 1;
    if ((this.allocatedBlocks + added) * blockBytes > this.capacityBytes) {
      throw new WhorlError('WHORL_NO_SPACE', `disk full: ${this.allocatedBytes} of ${this.capacityBytes} bytes used, ${added * blockBytes} more needed`);
    }
    this.allocatedBlocks += added;
    if (added > 0) this.keepCount();
    for (let i = 0; i < count; i++) {
      const { head, tail } = splitBlock(data.subarray(i * blockBytes, (i + 1) * blockBytes));
      this.storage.put(blockKey('b', gmap, block + i, epoch), head);
      this.storage.put(blockKey('t', gmap, block + i, epoch), tail);
      if (!this.mayHaveHoles) continue;
      const hole = blockKey('h', gmap, block + i, epoch);
      if (this.storage.get(hole)) this.storage.delete(hole);
    }
  }

  /**
   * Marks a block lost (an empty head and tail): every read of it fails until it is written again.
   * Recovery uses it for a block whose only up-to-date copy was torn, so that neither copy serves
   * an older version in its place.
   */
  lose(gmap: number, epoch: number, block: number): void {
    if (!this.storage.get(blockKey('t', gmap, block, epoch))) {
      this.allocatedBlocks += 1;
      this.keepCount();
    }
    this.storage.put(blockKey('b', gmap, block, epoch), new Uint8Array(0));
    this.storage.put(blockKey('t', gmap, block, epoch), new Uint8Array(0));
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
    let freed = 0;
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
      if (version.epoch !== epoch) continue;
      this.storage.delete(blockKey('b', gmap, version.block, epoch));
      this.storage.delete(blockKey('t', gmap, version.block, epoch));
      this.allocatedBlocks -= 1;
      freed += 1;
    }
    if (freed > 0) this.keepCount();
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
        this.storage.delete(blockKey('b', gmap, at, version.epoch));
        this.storage.delete(blockKey('t', gmap, at, version.epoch));
        this.allocatedBlocks -= 1;
        freed += blockBytes;
      }
    }
    if (freed > 0) this.keepCount();
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
    for (const kind of ['b', 't', 'h'] as const) {
      const [from, to] = gmapKeyRange(kind, gmap);
      for (;;) {
        const keys = this.storage.keys(from, to, dropPageKeys);
        if (keys.length === 0) break;
        for (const key of keys) this.storage.delete(key);
        if (kind === 'b') this.allocatedBlocks -= keys.length;
      }
    }
    this.keepCount();
  }
}

const allocatedKey = 'meta:allocated';
const noLayers: readonly Layer[] = [];

/** The key range of every version of blocks [block, block + count): the last block's versions sort below its prefix and '~'. */
function blockRange(kind: 'b' | 'h', gmap: number, block: number, count: number): [string, string] {
  return [blockPrefix(kind, gmap, block), `${blockPrefix(kind, gmap, block + count - 1)}~`];
}

/** Keys deleted per step of a drop: bounds the memory a huge disk's drop takes. */
const dropPageKeys = 4096;
