import type { BufferHandle } from '../actors/buffer-pool.js';
import { withBase, type Layer } from '../model/catalog.js';
import { blockBytes, blocksPerRegion, type MarkKind } from '../storage/block-keys.js';
import type { DiskReply, DiskReplyTo, DiskRequest } from '../storage/disk-protocol.js';
import { mergeWay, unstamped, type Stamp } from '../storage/stamps.js';
import type { Asker } from './asker.js';
import { copyRegionByBlock } from './torn-repair.js';

/** One region recovery makes equal on its two copies: `from` is the source the marks chose. */
export interface MergeCopy {
  readonly disk: { readonly gmap: number; readonly live: readonly number[]; readonly base: readonly Layer[] };
  readonly region: number;
  readonly from: number;
  readonly to: number;
  readonly clears: ReadonlyArray<{ server: number; kind: MarkKind }>;
}

/**
 * Recovery's copy of one region: a merge of its two copies by write stamps (storage/stamps.ts),
 * through one 64 KiB buffer. `check` judges each reply as recovery does (a failure fails the
 * copy), `log` reports a block lost.
 */
export class RegionMerge {
  constructor(
    private readonly asker: Asker,
    private readonly check: (server: number, reply: DiskReply) => boolean,
    private readonly log: (message: string, fields: Record<string, unknown>) => void,
  ) {}

  /** Merges the region as every live epoch reads it, oldest first (snapshots are resynced too). */
  region(copy: MergeCopy, handle: BufferHandle, done: (ok: boolean) => void): void {
    const epochs = copy.disk.live;
    const step = (at: number): void => {
      if (at >= epochs.length) return done(true);
      this.copyEpoch(copy, epochs[at]!, handle, (ok) => (ok ? step(at + 1) : done(false)));
    };
    step(0);
  }

  /**
   * Merges one epoch of the region (storage/stamps.ts): reads both copies with their stamps, puts
   * each block whose source version is newer on the target, then each whose target version is
   * newer back on the source. A write one copy took alone survives, so no read goes back in time.
   * A version read through from an older epoch is put in the epoch it lives in (or in the other
   * copy's, if that is higher): put at the epoch read, it would hide a write to the older epoch
   * that lands later on that copy alone (one in flight when a restarted control actor moved the
   * disk to its reserved epoch), and the copies would differ.
   */
  private copyEpoch(copy: MergeCopy, epoch: number, handle: BufferHandle, done: (ok: boolean) => void): void {
    const read = (server: number, then: (reply: DiskReplyTo<'read'>) => void): void =>
      this.asker.ask(server, this.readOf(copy, epoch, handle), then);
    read(copy.to, (target) => {
      // A torn block on either copy: block by block (torn-repair.ts).
      if (!target.ok && target.code === 'WHORL_CHECKSUM') return this.copyByBlock(copy, epoch, handle, done);
      if (!this.check(copy.to, target) || !target.ok) return done(false);
      const targetStamps = target.stamps ?? [];
      const targetEpochs = target.epochs ?? [];
      read(copy.from, (source) => {
        if (!source.ok && source.code === 'WHORL_CHECKSUM') return this.copyByBlock(copy, epoch, handle, done);
        if (!this.check(copy.from, source) || !source.ok) return done(false);
        const sourceStamps = (source.stamps ?? []).map((stamp) => stamp ?? undefined);
        const sourceEpochs = source.epochs ?? [];
        // Where the newer version lives (the epoch read, for a base layer's), or the other's if higher.
        const putAt = (newer: number | null | undefined, other: number | null | undefined): number =>
          Math.max(newer ?? epoch, other ?? -1);
        const forwardAt = (at: number): number => putAt(sourceEpochs[at], targetEpochs[at]);
        const backAt = (at: number): number => putAt(targetEpochs[at], sourceEpochs[at]);
        const theirs = (at: number): Stamp | undefined => targetStamps[at] ?? undefined;
        const ways = sourceStamps.map((stamp, at) => mergeWay(stamp, theirs(at)));
        const forward = indexesOf(ways, 'forward');
        const back = indexesOf(ways, 'back');
        this.putBlocks(
          copy,
          copy.to,
          { indexes: forward, stamps: sourceStamps, holes: source.holes, epochs: forwardAt },
          handle,
          (ok) => {
            if (!ok || back.length === 0) return done(ok);
            read(copy.to, (again) => {
              if (!this.check(copy.to, again) || !again.ok) return done(false);
              const stamps = sourceStamps.map((_, at) => theirs(at));
              const blocks = { indexes: back, stamps, holes: again.holes, epochs: backAt };
              this.putBlocks(copy, copy.from, blocks, handle, done);
            });
          },
        );
      });
    });
  }

  private readOf(copy: MergeCopy, epoch: number, handle: BufferHandle): Extract<DiskRequest, { op: 'read' }> {
    const block = copy.region * blocksPerRegion;
    // A clone's region is read through to its snapshot and its holes hide it, as the clone reads
    // (blocks it shares with the snapshot become the clone's own on the target copy).
    return {
      op: 'read',
      gmap: copy.disk.gmap,
      epoch,
      block,
      count: blocksPerRegion,
      handle,
      stamps: true,
      ...withBase(copy.disk),
    };
  }

  /** A copy has a torn block: block by block, losing what is torn on every up-to-date copy. */
  private copyByBlock(copy: MergeCopy, epoch: number, handle: BufferHandle, done: (ok: boolean) => void): void {
    const { gmap } = copy.disk;
    const lost = (at: number): void =>
      this.log('block lost: torn on its only up-to-date copy', {
        gmap,
        block: at,
        servers: [copy.from, copy.to],
      });
    const targetComplete = !copy.clears.some((clear) => clear.kind === 'stale' && clear.server === copy.from);
    copyRegionByBlock(
      this.asker,
      { gmap, epoch, region: copy.region, from: copy.from, to: copy.to, targetComplete, base: copy.disk.base },
      handle,
      (server, reply) => this.check(server, reply),
      lost,
      done,
    );
  }

  /**
   * Puts blocks `indexes` of the region (as just read into `handle`, with `holes` reading as
   * zeros) on `server` with their `stamps`, each in its epoch (`epochs`): runs of data are written,
   * and blocks with no data trimmed, separately, so that no block ever reads as written zeros. A
   * block with no version at all (a store from before stamps, where the marks choose) is trimmed
   * with stamp zero.
   */
  private putBlocks(
    copy: MergeCopy,
    server: number,
    blocks: {
      indexes: readonly number[];
      stamps: ReadonlyArray<Stamp | undefined>;
      holes: readonly number[];
      epochs: (at: number) => number;
    },
    handle: BufferHandle,
    done: (ok: boolean) => void,
  ): void {
    const { indexes, stamps, epochs } = blocks;
    if (indexes.length === 0) return done(true);
    const { gmap } = copy.disk;
    const first = copy.region * blocksPerRegion;
    const holes = new Set(blocks.holes);
    const requests: DiskRequest[] = [];
    for (let k = 0; k < indexes.length;) {
      const at = indexes[k]!;
      const hole = holes.has(at);
      const epoch = epochs(at);
      let end = k + 1;
      const alike = (next: number): boolean =>
        next === indexes[end - 1]! + 1 && holes.has(next) === hole && epochs(next) === epoch;
      while (end < indexes.length && alike(indexes[end]!)) end += 1;
      const count = end - k;
      const runStamps = indexes.slice(k, end).map((i) => stamps[i] ?? unstamped);
      requests.push(
        hole
          ? { op: 'trim', gmap, epoch, block: first + at, count, fua: false, stamps: runStamps, ...withBase(copy.disk) }
          : {
              op: 'write',
              gmap,
              epoch,
              block: first + at,
              count,
              handle: { ...handle, offsetBytes: handle.offsetBytes + at * blockBytes, lengthBytes: count * blockBytes },
              fua: false,
              stamps: runStamps,
            },
      );
      k = end;
    }
    let left = requests.length;
    let ok = true;
    for (const request of requests) {
      this.asker.ask(server, request, (reply) => {
        ok &&= this.check(server, reply);
        if (--left === 0) done(ok);
      });
    }
  }
}

/** The indexes whose way is `way`. */
function indexesOf(ways: ReadonlyArray<string | undefined>, way: string): number[] {
  const indexes: number[] = [];
  ways.forEach((each, at) => {
    if (each === way) indexes.push(at);
  });
  return indexes;
}
