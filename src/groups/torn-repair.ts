import type { BufferHandle } from '../actors/buffer-pool.js';
import { withBase, type Layer } from '../model/catalog.js';
import { blockBytes, blocksPerRegion } from '../storage/block-keys.js';
import type { DiskAnswers, DiskReply, DiskRequest } from '../storage/disk-protocol.js';
import { mergeWay, unstamped, type Stamp } from '../storage/stamps.js';
import type { Asker } from './asker.js';

export interface RegionCopy {
  readonly gmap: number;
  readonly epoch: number;
  readonly region: number;
  readonly from: number;
  readonly to: number;
  /** The global map's base layers (a clone's snapshot): reads see through to them, holes hide them. */
  readonly base: readonly Layer[];
  /**
   * Whether the target holds every write the source acknowledged (the copy runs on a busy bit,
   * not a stale mark), so that its block may stand in for a torn one.
   */
  readonly targetComplete: boolean;
}

/**
 * Merges a region block by block after a whole-region read failed a checksum: a copy crashed with
 * an unflushed write torn on its disk. Sound blocks on both copies merge as recovery merges them
 * (the newer stamp wins, either way: storage/stamps.ts), and a torn block on the target takes the
 * source's. A torn block on the source is taken from the target when the target is complete, and
 * written back to the source. Otherwise (or when the target's block is torn too) no copy holds the
 * block as acknowledged: it is marked lost on both (`lose`: every read of it fails until it is
 * written again) rather than served older, and `lost` logs it. `check` judges each reply as
 * recovery does (a server failure fails the copy).
 */
export function copyRegionByBlock(
  asker: Asker,
  copy: RegionCopy,
  handle: BufferHandle,
  check: (server: number, reply: DiskReply) => boolean,
  lost: (block: number) => void,
  done: (ok: boolean) => void,
): void {
  const { gmap, epoch } = copy;
  const first = copy.region * blocksPerRegion;
  const slice = (at: number): BufferHandle => ({
    ...handle,
    offsetBytes: handle.offsetBytes + at * blockBytes,
    lengthBytes: blockBytes,
  });
  /**
   * Puts the block just read (a hole or data) on `server`, with its stamp: the disk keeps a newer
   * version it holds (storage/stamps.ts).
   */
  const put = (server: number, block: number, at: number, read: ReadReply, then: (ok: boolean) => void): void => {
    const stamps = [read.stamps?.[0] ?? unstamped];
    const request: DiskRequest =
      read.holes.length > 0
        ? { op: 'trim', gmap, epoch, block, count: 1, fua: false, stamps, ...withBase(copy) }
        : { op: 'write', gmap, epoch, block, count: 1, handle: slice(at), fua: false, stamps };
    asker.ask(server, request, (reply) => then(check(server, reply)));
  };
  const step = (at: number): void => {
    if (at === blocksPerRegion) return done(true);
    const block = first + at;
    const next = (ok: boolean): void => (ok ? step(at + 1) : done(false));
    const loseBoth = (): void => {
      lost(block);
      let left = 2;
      let ok = true;
      for (const server of [copy.from, copy.to]) {
        asker.ask(server, { op: 'lose', gmap, epoch, block }, (reply) => {
          ok &&= check(server, reply);
          if (--left === 0) next(ok);
        });
      }
    };
    const readOf = (): Extract<DiskRequest, { op: 'read' }> => ({
      op: 'read',
      gmap,
      epoch,
      block,
      count: 1,
      handle: slice(at),
      stamps: true,
      ...withBase(copy),
    });
    /** Puts the target's block on the source (read again: the buffer holds the source's). */
    const back = (): void =>
      asker.ask(copy.to, readOf(), (partner) => {
        if (partner.ok) return put(copy.from, block, at, partner, next);
        if (partner.code !== 'WHORL_CHECKSUM') return done(check(copy.to, partner));
        loseBoth();
      });
    asker.ask(copy.to, readOf(), (target) => {
      if (!target.ok && target.code !== 'WHORL_CHECKSUM') return done(check(copy.to, target));
      asker.ask(copy.from, readOf(), (read) => {
        if (read.ok) {
          // A torn target block is no version: the source's replaces it (the disk admits it).
          const way = target.ok ? mergeWay(stampOf(read), stampOf(target)) : 'forward';
          if (way === 'forward') return put(copy.to, block, at, read, next);
          return way === 'back' ? back() : next(true);
        }
        if (read.code !== 'WHORL_CHECKSUM') return done(check(copy.from, read));
        if (!copy.targetComplete || !target.ok) return loseBoth();
        back();
      });
    });
  };
  step(0);
}

type ReadReply = DiskAnswers['read'];

function stampOf(read: ReadReply): Stamp | undefined {
  return read.stamps?.[0] ?? undefined;
}
