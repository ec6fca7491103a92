import type { Actor, ActorContext, Behavior, Incoming, RequestIncoming } from '../actors/actor.js';
import { FlushWaiters } from '../actors/flush-waiters.js';
import { assertNever } from '../assert.js';
import { isWhorlError } from '../errors.js';
import { BlockStore } from './block-store.js';
import { checkDiskRequest } from './disk-check.js';
import { stampsOf, type DiskReply, type DiskRequest } from './disk-protocol.js';
import type { Stamp } from './stamps.js';
import { Marks } from './marks.js';
import { Terms } from './terms.js';

export interface DiskActorOptions {
  readonly capacityBytes: number;
}

type Request = RequestIncoming<DiskRequest>;

/**
 * Uncommitted entries (region entries and marks: keys and values of up to 290 bytes, no block
 * data) a disk holds in memory before writes wait for their commit.
 */
export const backlogEntriesMax = 16384;
/** Slots let go of (16 MiB) before the disk flushes on its own to make them reusable. */
export const limboSlotsMax = 4096;
/** Region entries (up to 16 blocks each, of every epoch) one step of a prune or a scan visits. */
const scanStepKeys = 128;

/**
 * A physical disk: block data, busy bits and stale marks in the actor's storage (one LMDB
 * environment in production). Requests are checked once here; the block store asserts.
 * Durability: a write is answered when visible; FLUSH, FUA writes and setMarks are answered only
 * after the storage reports a completed flush covering them.
 */
export function diskActor(options: DiskActorOptions): Behavior<DiskRequest> {
  return (context: ActorContext): Actor<DiskRequest> => {
    const store = new BlockStore(context.storage, options.capacityBytes);
    const marks = new Marks(context.storage);
    const terms = new Terms(context.storage);
    const flushes = new FlushWaiters(context.storage);
    /** Asks for a flush; the slots let go of so far become reusable once it completes. */
    const flushThen = (then: (ok: boolean) => void, keysOnly = false): void => {
      const released = store.slots.seal();
      flushes.after((ok) => {
        store.slots.settle(released, ok);
        then(ok);
      }, keysOnly);
    };
    const reclaimSlots = (): void => {
      if (store.slots.limboCount >= limboSlotsMax) flushThen(() => undefined);
    };
    // Slots an earlier incarnation let go of wait for a flush of this one.
    if (store.slots.limboCount > 0) flushThen(() => undefined);

    // Every answer names this incarnation, so that a caller can pin later requests (FLUSH above
    // all) to it: a restarted disk has lost unflushed writes and must not answer for them.
    const answer = (request: Request, reply: DiskReply): void =>
      context.reply(request, { ...reply, incarnation: context.incarnation });
    /**
     * Answers `request` once a flush covers everything before it (only the keys, with `keysOnly`);
     * `onFlushed` runs first on success.
     */
    const afterFlush = (request: Request, onFlushed?: () => void, keysOnly = false): void =>
      flushThen((ok) => {
        if (ok) onFlushed?.();
        answer(request, ok ? { ok: true } : { ok: false, code: 'WHORL_IO', message: 'flush to stable storage failed' });
      }, keysOnly);

    // Scans of a whole global map (pruning a deleted snapshot's versions, counting what a snapshot
    // holds alone) go in steps between other requests, so client I/O keeps flowing.
    const scans: Array<{ request: Request; at: number; bytes: number }> = [];
    const scanStep = { op: 'scan-step' };
    const scan = (): void => {
      const job = scans[0];
      if (!job) return;
      const body = job.request.body as Extract<DiskRequest, { op: 'prune' | 'heldAlone' }>;
      const next = store.nextStep(body.gmap, job.at, scanStepKeys);
      if (next !== undefined) {
        const count = next - job.at;
        job.bytes +=
          body.op === 'prune'
            ? store.prune(body.gmap, job.at, count, body.live)
            : store.heldAloneBytes(body.gmap, job.at, count, body.epoch, body.live);
        job.at = next;
      } else {
        scans.shift();
        const bytes = job.bytes;
        if (body.op === 'heldAlone') answer(job.request, { ok: true, bytes });
        else
          flushThen((ok) =>
            answer(
              job.request,
              ok ? { ok: true, bytes } : { ok: false, code: 'WHORL_IO', message: 'flush to stable storage failed' },
            ),
          );
      }
      if (scans.length > 0) context.setTimer(0, scanStep);
    };

    const handle = (request: Request): void => {
      const body = request.body;
      const problem = checkDiskRequest(body);
      if (problem) return answer(request, { ok: false, code: 'WHORL_BAD_ARGUMENT', message: problem });
      const fenced = 'fence' in body ? terms.admit(body.fence) : undefined;
      if (fenced) return answer(request, { ok: false, code: 'WHORL_STALE_TERM', message: fenced });
      switch (body.op) {
        case 'read': {
          const versions = body.stamps ? { stamps: [] as Array<Stamp | undefined>, epochs: [] as number[] } : undefined;
          const holes = store.read(
            { gmap: body.gmap, epoch: body.epoch, block: body.block },
            body.count,
            context.view(body.handle),
            body.base,
            versions,
          );
          if (!versions) return answer(request, { ok: true, holes });
          return answer(request, {
            ok: true,
            holes,
            stamps: Array.from(versions.stamps, (stamp) => stamp ?? null),
            epochs: Array.from(versions.epochs, (epoch) => epoch ?? null),
          });
        }
        case 'write':
          if (body.stale) marks.set('stale', body.gmap, body.stale);
          store.write(body.gmap, body.epoch, body.block, context.view(body.handle), body.crcs, stampsOf(body));
          // Backpressure: past the backlog bound a write waits for its commit instead of piling up
          // uncommitted copies in memory.
          return body.fua || (context.storage.backlog ?? 0) > backlogEntriesMax
            ? afterFlush(request)
            : answer(request, { ok: true });
        case 'trim':
          if (body.stale) marks.set('stale', body.gmap, body.stale);
          store.trim(body.gmap, body.epoch, body.block, body.count, body.base, stampsOf(body), body.traced);
          return body.fua ? afterFlush(request) : answer(request, { ok: true });
        case 'lose':
          store.lose(body.gmap, body.epoch, body.block);
          return answer(request, { ok: true });
        case 'flush':
          return afterFlush(request);
        case 'setMarks': {
          const added = marks.set(body.kind, body.gmap, body.regions);
          if (added.length === 0) return answer(request, { ok: true });
          // Marks are keys: no block data needs syncing for them.
          return afterFlush(request, () => marks.settle(body.kind, body.gmap, added), true);
        }
        case 'clearMarks':
          marks.clear(body.kind, body.gmap, body.regions);
          // A stale mark that came back after a crash would point recovery the wrong way; a busy
          // bit that comes back only costs a copy, so its clear stays lazy.
          return body.kind === 'stale' ? afterFlush(request, undefined, true) : answer(request, { ok: true });
        case 'listMarks':
          return answer(request, { ok: true, marks: marks.list(body.kind) });
        case 'allocated':
          return answer(request, {
            ok: true,
            runs: store.allocatedRuns(body.gmap, body.epoch, body.block, body.count, body.base),
          });
        case 'drop':
          store.drop(body.gmap);
          return afterFlush(request);
        case 'prune':
        case 'heldAlone':
          scans.push({ request, at: 0, bytes: 0 });
          if (scans.length === 1) context.setTimer(0, scanStep);
          return;
        case 'stats': {
          const allocatedBytes = body.gmap === undefined ? store.allocatedBytes : store.allocatedBytesOf(body.gmap);
          return answer(request, { ok: true, allocatedBytes, capacityBytes: store.capacityBytes });
        }
        default:
          return assertNever(body, 'disk request');
      }
    };

    return {
      receive(incoming: Incoming<DiskRequest>): void {
        switch (incoming.kind) {
          case 'request':
            try {
              handle(incoming);
              return reclaimSlots();
            } catch (error) {
              // Operational errors (full, checksum, stale handle) go back to the caller; anything
              // else is a broken invariant and restarts the actor.
              if (!isWhorlError(error)) throw error;
              return answer(incoming, { ok: false, code: error.code, message: error.message });
            }
          case 'flushed':
            return flushes.settle(incoming.token, incoming.ok);
          case 'timer':
            scan();
            return reclaimSlots();
          case 'tell':
          case 'reply':
          case 'failure':
            return;
          default:
            return assertNever(incoming, 'incoming');
        }
      },
    };
  };
}
