import { open, type RootDatabase } from 'lmdb';
import type { CellStorage } from '../actors/cell.js';
import type { FileSlots } from './file-slots.js';
import { CommitTable } from './commit-table.js';

export interface LmdbStorageOptions {
  readonly path: string;
  /** Address space reserved for the file; the disk actor keeps its data well below it. */
  readonly mapSizeBytes: number;
  readonly pageSizeBytes?: number;
  /** Where to count writes not yet committed, for readers on other threads (commit-table.ts). */
  readonly commits?: SharedArrayBuffer;
  /** How long writes gather before they go to lmdb-js as one commit (see `commitDelayMsDefault`). */
  readonly commitDelayMs?: number;
}

/**
 * Writes gather this long before they go to lmdb-js, so that one commit carries many: lmdb-js
 * commits whatever one turn of the event loop wrote, and a disk actor's turns are short, so a
 * commit carried ~17 puts under random 4 KiB writes, each commit rewriting its B-tree path and
 * syncing (overlappingSync): ~700 fdatasync a second. Nothing waits on a commit but a flush,
 * which sends what has gathered at once.
 */
export const commitDelayMsDefault = 25;
/** Writes gathered past which they go to lmdb-js without waiting for the delay. */
const gatheredWritesMax = 4096;

/**
 * An actor's storage in one LMDB environment (lmdb-js), with a disk's block data beside it in a
 * plain file of slots (`blocks`, attached by openDisk). Writes are queued into lmdb-js's
 * background write transactions (group commit: every write of a turn, and every write made while
 * a commit runs, shares the next commit). Until its commit lands a write lives in `uncommitted`,
 * so the actor reads its own writes at once. A flush completes when every earlier write is
 * committed and synced to disk (`flushed`) and the block file is synced too (fdatasync), which is
 * what NBD FLUSH and FUA need.
 */
export class LmdbStorage implements CellStorage {
  private readonly db: RootDatabase<Buffer, string>;
  /** Writes whose commit has not landed yet: a value, or null for a delete. */
  private readonly uncommitted = new Map<string, Uint8Array | null>();
  private lastWrite: Promise<unknown> = Promise.resolve();
  /** The writes sharing `lastWrite`'s commit, as key, value, key, value… (no array per write). */
  private batch: Array<string | Uint8Array | null> | undefined;
  /** Writes not yet handed to lmdb-js, as key, value, key, value…, and the timer that hands them. */
  private gathered: Array<string | Uint8Array | null> = [];
  private gatherTimer: NodeJS.Timeout | undefined;
  private writeFailed: unknown;
  private nextToken = 1;
  private flushed: (token: number, ok: boolean) => void = () => undefined;
  private closing: Promise<void> | undefined;
  private readonly commits: CommitTable | undefined;
  /** The block data file; the control actor's store keeps none. */
  blocks: FileSlots | undefined;

  constructor(readonly options: LmdbStorageOptions) {
    this.commits = options.commits && new CommitTable(options.commits);
    this.db = open<Buffer, string>({
      path: options.path,
      encoding: 'binary',
      mapSize: options.mapSizeBytes,
      pageSize: options.pageSizeBytes ?? 4096,
      // Commits return once visible; `flushed` tells when they are on disk.
      overlappingSync: true,
    });
  }

  get backlog(): number {
    return this.uncommitted.size;
  }

  get(key: string): Uint8Array | undefined {
    const pending = this.uncommitted.get(key);
    if (pending !== undefined) return pending ?? undefined;
    // lmdb-js hands back its reused read buffer with `length` set to the value's size but the
    // typed array spanning the whole buffer: cut a true view of the value.
    const value = this.db.getBinaryFast(key);
    return value && value.subarray(0, value.length);
  }

  put(key: string, value: Uint8Array): void {
    this.gather(key, value);
  }

  delete(key: string): void {
    this.gather(key, null);
  }

  range(from: string, to: string, limit = Infinity): Array<[string, Uint8Array]> {
    const entries = new Map<string, Uint8Array>();
    // Enough committed entries that, after pending deletes, `limit` remain.
    const committedLimit = limit === Infinity ? undefined : limit + this.uncommitted.size;
    for (const { key, value } of this.db.getRange({ start: from, end: to, limit: committedLimit }))
      entries.set(key, Buffer.from(value));
    for (const [key, value] of this.uncommitted) {
      if (key < from || key >= to) continue;
      if (value) entries.set(key, value);
      else entries.delete(key);
    }
    return [...entries.keys()]
      .sort()
      .slice(0, limit)
      .map((key) => [key, entries.get(key)!]);
  }

  keys(from: string, to: string, limit = Infinity): string[] {
    const keys = new Set<string>();
    const committedLimit = limit === Infinity ? undefined : limit + this.uncommitted.size;
    for (const key of this.db.getKeys({ start: from, end: to, limit: committedLimit })) keys.add(key);
    for (const [key, value] of this.uncommitted) {
      if (key < from || key >= to) continue;
      if (value) keys.add(key);
      else keys.delete(key);
    }
    return [...keys].sort().slice(0, limit);
  }

  count(from: string, to: string): number {
    let count = this.db.getKeysCount({ start: from, end: to });
    for (const [key, value] of this.uncommitted) {
      if (key < from || key >= to) continue;
      const committed = this.db.doesExist(key);
      if (value && !committed) count += 1;
      if (!value && committed) count -= 1;
    }
    return count;
  }

  floor(atMost: string, above: string): [string, Uint8Array] | undefined {
    let best: [string, Uint8Array] | undefined;
    for (const { key, value } of this.db.getRange({ start: atMost, end: above, reverse: true })) {
      if (this.uncommitted.get(key) === null) continue;
      best = [key, this.uncommitted.get(key) ?? Buffer.from(value)];
      break;
    }
    for (const [key, value] of this.uncommitted) {
      if (value && key > above && key <= atMost && (!best || key > best[0])) best = [key, value];
    }
    return best;
  }

  flush(keysOnly = false): number {
    this.handOver();
    const token = this.nextToken++;
    Promise.all([keysOnly ? undefined : this.blocks?.sync(), this.lastWrite.then(() => this.db.flushed)]).then(
      () => this.flushed(token, this.writeFailed === undefined),
      () => this.flushed(token, false),
    );
    return token;
  }

  onFlushed(callback: (token: number, ok: boolean) => void): void {
    this.flushed = callback;
  }

  /** Resolves once every earlier write is on disk (for set-up steps outside an actor). */
  async sync(): Promise<void> {
    this.handOver();
    await this.lastWrite;
    await Promise.all([this.blocks?.sync(), this.db.flushed]);
  }

  /** A real crash loses what LMDB had not committed; nothing to simulate. */
  crash(): void {}

  /** Waits for every write to be on disk, then closes the environment. Idempotent. */
  close(): Promise<void> {
    this.handOver();
    this.closing ??= (async () => {
      await this.lastWrite.catch(() => undefined);
      await this.db.flushed;
      await this.blocks?.close();
      await this.db.close();
    })();
    return this.closing;
  }

  /** A write is visible to this actor at once; lmdb-js gets it with the others of its gathering. */
  private gather(key: string, value: Uint8Array | null): void {
    this.uncommitted.set(key, value);
    this.commits?.written(key);
    this.gathered.push(key, value);
    if (this.gathered.length / 2 >= gatheredWritesMax) this.handOver();
    else this.gatherTimer ??= setTimeout(() => this.handOver(), this.options.commitDelayMs ?? commitDelayMsDefault);
  }

  /** Hands every gathered write to lmdb-js, in order, in one turn: they share one commit. */
  private handOver(): void {
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    const gathered = this.gathered;
    this.gathered = [];
    for (let i = 0; i < gathered.length; i += 2) {
      const key = gathered[i] as string;
      const value = gathered[i + 1] as Uint8Array | null;
      this.track(key, value, value === null ? this.db.remove(key) : this.db.put(key, value as Buffer));
    }
  }

  /**
   * lmdb-js hands every write of one batch the same commit promise: one reaction per batch (not
   * per write) lets the batch's writes leave `uncommitted` once it lands, unless written again.
   */
  private track(key: string, value: Uint8Array | null, write: Promise<unknown>): void {
    if (write !== this.lastWrite || !this.batch) {
      const batch: Array<string | Uint8Array | null> = [];
      this.batch = batch;
      this.lastWrite = write;
      write.then(
        () => {
          // A promise lmdb-js hands out again after it settled starts a new batch.
          if (this.batch === batch) this.batch = undefined;
          this.commits?.committed(batch.filter((_, i) => i % 2 === 0) as string[]);
          for (let i = 0; i < batch.length; i += 2) {
            const written = batch[i] as string;
            if (this.uncommitted.get(written) === batch[i + 1]) this.uncommitted.delete(written);
          }
        },
        // A failed commit leaves its keys counted: readers elsewhere keep asking the disk for them.
        (error: unknown) => {
          if (this.batch === batch) this.batch = undefined;
          this.writeFailed ??= error;
        },
      );
    }
    this.batch.push(key, value);
  }
}

export function openLmdbStorage(options: LmdbStorageOptions): LmdbStorage {
  return new LmdbStorage(options);
}
