import { fail } from '../assert.js';
import type { ActorStorage } from '../actors/actor.js';
import { WhorlError } from '../errors.js';
import { blockBytes, blockKey, blockKeysFrom, blockKeysTo, blockPrefix, epochOfKey, everyKeyOf, gmapKeyRange, parseBlockKey } from './block-keys.js';
import { finishBlock, headBytes, splitBlock } from './block-record.js';

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
   * was never written or is a hole. Returns whether it holds data. A checksum mismatch is an
   * error naming the block.
   */
  read(address: BlockAddress, into: Uint8Array): boolean {
    if (into.length !== blockBytes) fail(`read into ${into.length} bytes`);
    const { gmap, epoch, block } = address;
    let head = this.storage.get(blockKey('b', gmap, block, epoch));
    let storedEpoch = epoch;
    if (!head && epoch > 0) {
      // Not written in this epoch: the newest older version, unless a newer hole hides it.
      const data = this.storage.floor(blockKey('b', gmap, block, epoch), blockPrefix('b', gmap, block));
      const hole = this.storage.floor(blockKey('h', gmap, block, epoch), blockPrefix('h', gmap, block));
      if (data && (!hole || epochOfKey(data[0]) > epochOfKey(hole[0]))) {
        head = data[1];
        storedEpoch = epochOfKey(data[0]);
      }
    }
    if (!head) {
      into.fill(0);
      return false;
    }
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
  trim(gmap: number, epoch: number, block: number, count: number): void {
    // Every version of the last block sorts below its prefix followed by '~' (after any hex digit).
    const versions = this.storage.keys(blockPrefix('b', gmap, block), `${blockPrefix('b', gmap, block + count - 1)}~`);
    const needsHole = new Set<number>();
    for (const key of versions) {
      const version = parseBlockKey(key);
      if (version.epoch === epoch) {
        this.storage.delete(key);
        this.storage.delete(blockKey('t', gmap, version.block, epoch));
        this.allocatedBlocks -= 1;
      } else if (version.epoch < epoch) {
        needsHole.add(version.block);
      }
    }
    if (versions.some((key) => parseBlockKey(key).epoch === epoch)) this.keepCount();
    if (needsHole.size > 0) this.mayHaveHoles = true;
    for (const hidden of needsHole) this.storage.put(blockKey('h', gmap, hidden, epoch), new Uint8Array(0));
  }

  /** Runs [first, count] of blocks in [block, block + count) that hold data as of `epoch`. */
  allocatedRuns(gmap: number, epoch: number, block: number, count: number): Array<[number, number]> {
    const newest = (kind: 'b' | 'h'): Map<number, number> => {
      const found = new Map<number, number>();
      for (const key of this.storage.keys(blockPrefix(kind, gmap, block), `${blockPrefix(kind, gmap, block + count - 1)}~`)) {
        const version = parseBlockKey(key);
        if (version.epoch <= epoch) found.set(version.block, version.epoch);
      }
      return found;
    };
    const data = newest('b');
    const holes = newest('h');
    const runs: Array<[number, number]> = [];
    for (const [at, dataEpoch] of [...data].sort((a, b) => a[0] - b[0])) {
      if ((holes.get(at) ?? -1) > dataEpoch) continue;
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === at) last[1] += 1;
      else runs.push([at, 1]);
    }
    return runs;
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

/** Keys deleted per step of a drop: bounds the memory a huge disk's drop takes. */
const dropPageKeys = 4096;
