import fs from 'node:fs';
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { zeroFill } from '../actors/buffer-pool.js';
import { crc32c } from '../actors/crc32c.js';
import { slotBytes } from '../actors/slot-file.js';
import { blockBytes, blocksPerRegion, parseRegionKey, regionKey, regionPrefix } from './block-keys.js';
import { CommitTable } from './commit-table.js';
import { blocksFile } from './disk-format.js';
import { RegionEntry } from './region-entry.js';
import { VersionReader, type RegionValues, type StoredAt } from './version-reader.js';

/**
 * Reads of the embedded cluster's disks on the front end's own thread: a 4 KiB read that crosses
 * to a server's worker and back costs about 40 µs of CPU in hand-offs alone, twice nbdkit's whole
 * read (BENCHMARKS.md, "Where random I/O time goes"). A read is served here only when it is sure to
 * be what the disk actor would answer; otherwise `read` says no and the caller asks the actor:
 * - every block is found in the newest version of its region, at or below the requested epoch,
 *   that holds anything for it, by the version reader the disk actor uses too (version-reader.ts):
 *   data, or a hole (zeros); a block no version holds reads as zeros too, unless the disk reads
 *   through to a base layer (a clone); a lost block is the actor's to report;
 * - no write of those keys is still uncommitted (the disk answers writes before lmdb-js commits
 *   them; see commit-table.ts), and the read transaction is renewed past every commit counted;
 * - every block's data matches its CRC32C (a slot reused under the read fails it).
 * The router still picks which copy to read; this only reads it.
 */
export class DirectReads {
  private readonly readers = new Map<number, DiskReader>();
  /** Reads served here, and reads handed back to the actor path. */
  served = 0;
  declined = 0;

  constructor(
    private readonly diskPath: (server: number) => string,
    private readonly commits: (server: number) => CommitTable,
    /** Whether `server`'s disk is on this host (across hosts, only a node's own disks are). */
    readonly holds: (server: number) => boolean = () => true,
  ) {}

  /**
   * Fills `into` with blocks [block, block + count) of `server`'s copy and returns the blocks that
   * read as zeros (as a disk's read answers `holes`), or returns undefined. `based`: the disk reads
   * through to base layers where its own have nothing.
   */
  read(
    server: number,
    read: { gmap: number; epoch: number; block: number; count: number; based: boolean },
    into: Uint8Array,
  ): number[] | undefined {
    if (!this.holds(server)) return undefined;
    let holes: number[] | undefined;
    try {
      holes = this.reader(server).read(read, into);
    } catch {
      // A disk that cannot be read here (gone, closed, damaged) is the actor's to report.
      this.close(server);
    }
    if (holes) this.served += 1;
    else this.declined += 1;
    return holes;
  }

  /** Lets go of a server's files (the server is being taken out); reopened on the next read. */
  close(server: number): void {
    this.readers.get(server)?.close();
    this.readers.delete(server);
  }

  closeAll(): void {
    for (const server of [...this.readers.keys()]) this.close(server);
  }

  private reader(server: number): DiskReader {
    let reader = this.readers.get(server);
    if (!reader) {
      reader = new DiskReader(this.diskPath(server), this.commits(server));
      this.readers.set(server, reader);
    }
    return reader;
  }
}

/** The answer of a read with no holes, shared (callers only read it). */
const noHoles: number[] = [];

class DiskReader {
  private readonly db: RootDatabase<Buffer, string>;
  private readonly fd: number;
  private generation = Number.NaN;
  private readonly slots: number[] = [];
  private readonly crcs: number[] = [];
  /** Blocks of the read that are holes (zeros), in order. */
  private readonly holes: number[] = [];
  /** Nothing waited to commit when the read began (see `values`). */
  private settled = false;

  constructor(
    where: string,
    private readonly commits: CommitTable,
  ) {
    this.fd = fs.openSync(path.join(where, blocksFile), 'r');
    try {
      this.db = open<Buffer, string>({ path: where, encoding: 'binary', readOnly: true });
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  read(
    { gmap, epoch, block, count, based }: { gmap: number; epoch: number; block: number; count: number; based: boolean },
    into: Uint8Array,
  ): number[] | undefined {
    const lastRegion = Math.floor((block + count - 1) / blocksPerRegion);
    for (let region = Math.floor(block / blocksPerRegion); region <= lastRegion; region++)
      if (this.commits.uncommitted(regionKey(gmap, region, epoch))) return undefined;
    const settled = !this.commits.anyUncommitted();
    // After the counts (see commit-table.ts): a commit that zeroed them has moved the generation.
    const generation = this.commits.generation;
    if (generation !== this.generation) {
      this.db.resetReadTxn();
      this.generation = generation;
    }
    this.slots.length = 0;
    this.crcs.length = 0;
    this.holes.length = 0;
    this.settled = settled;
    const versions = new VersionReader(this.values);
    for (let at = block; at < block + count; at++) {
      const version = versions.find(gmap, epoch, at);
      if (version === undefined) return undefined;
      const i = at % blocksPerRegion;
      if (version ? RegionEntry.holeIn(version.value, i) : !based) {
        this.holes.push(at - block);
        continue;
      }
      const data = version && RegionEntry.dataIn(version.value, i);
      if (!data) return undefined;
      this.slots.push(data.slot);
      this.crcs.push(data.crc);
    }
    if (!this.fill(count, into)) return undefined;
    return this.holes.length === 0 ? noHoles : [...this.holes];
  }

  /** Reads the blocks found (in `slots`, skipping `holes`) into `into` and checks them; zeros the holes. */
  private fill(count: number, into: Uint8Array): boolean {
    let found = 0;
    let hole = 0;
    // Blocks written together sit in consecutive slots: one read per run.
    for (let first = 0; first < count;) {
      if (this.holes[hole] === first) {
        zeroFill(into, first * blockBytes, (first + 1) * blockBytes);
        hole += 1;
        first += 1;
        continue;
      }
      let last = first;
      let next = found;
      while (last + 1 < count && this.holes[hole] !== last + 1 && this.slots[next + 1] === this.slots[next]! + 1) {
        last += 1;
        next += 1;
      }
      const length = (last - first + 1) * blockBytes;
      if (fs.readSync(this.fd, into, first * blockBytes, length, this.slots[found]! * slotBytes) !== length)
        return false;
      for (let at = first; at <= last; at++, found++) {
        if (crc32c(into.subarray(at * blockBytes, (at + 1) * blockBytes)) !== this.crcs[found]) return false;
      }
      first = last + 1;
    }
    return true;
  }

  /**
   * The stored values of region entries, as the version reader asks for them. Older versions are
   * read only while nothing at all waits to commit (`settled`): a write of one (a recovery copy
   * writes regions at their own epochs) could hide behind another key's slot.
   */
  private readonly values: RegionValues<Uint8Array> = {
    at: (gmap, region, epoch) => this.db.getBinaryFast(regionKey(gmap, region, epoch))?.subarray(0),
    below: (gmap, region, epoch) => {
      if (!this.settled) return undefined;
      const range = this.db.getRange({ start: regionPrefix(gmap, region), end: regionKey(gmap, region, epoch) });
      const versions: Array<StoredAt<Uint8Array>> = [];
      for (const { key, value } of range)
        versions.push({ epoch: parseRegionKey(key).epoch, value: Buffer.from(value) });
      return versions.reverse();
    },
    holds: (value, i) => RegionEntry.holds(value, i),
    // A copy: reading older versions may reuse the buffer getBinaryFast answered in.
    keep: (value) => Uint8Array.from(value),
  };

  close(): void {
    fs.closeSync(this.fd);
    void this.db.close();
  }
}
