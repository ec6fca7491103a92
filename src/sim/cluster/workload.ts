import type { Actor, Behavior } from '../../actors/actor.js';
import type { BufferPool } from '../../actors/buffer-pool.js';
import type { ControlReply, ControlRequest } from '../../control/control-protocol.js';
import { WhorlError } from '../../errors.js';
import type { GroupRequest } from '../../groups/group-protocol.js';
import type { DuplicationProtocol, ExportTarget } from '../../model/catalog.js';
import { blockBytes } from '../../storage/block-keys.js';
import { blockContent } from '../../storage/crash/block-content.js';
import type { DiskReplyTo } from '../../storage/disk-protocol.js';
import type { Router } from '../../volumes/router.js';
import { reportRead } from '../disk/client.js';
import type { DiskModel } from '../disk/model.js';
import { compareCopies, type TakenSnapshot } from './compare-copies.js';

/** The disk the workload drives: chained declustering, or mirror pairs with a duplication protocol. */
export type ClusterLayout = 'chained' | DuplicationProtocol;

export interface ClusterWorkloadState {
  /**
   * Set by the scenario after healing: stop the workload, and once nothing is in flight and every
   * server is up, compare both copies of every block (again if the view changes meanwhile).
   */
  compare: boolean;
  /** Blocks whose copies differ, as epoch × blocks + block (filled once the comparison is done). */
  differing: number[] | undefined;
  /** Snapshots taken (each compared and checked against its model at the end). */
  snapshots: number;
}

export interface WorkloadDisk {
  readonly blockCount: number;
  readonly stripeBytes: number;
  readonly servers: number;
  readonly layout: ClusterLayout;
  /** The model holds a FLUSH durable once it was answered OK (else only once every group was complete). */
  readonly strictFlush: boolean;
}

const diskName = 'sim';
const controlTimeoutMs = 2000;
const inFlightMax = 6;
/**
 * How long the comparison after healing waits for copies that lag behind early answers: longer
 * than a group's request timeout (600 ms), after which a copy write that was lost is marked stale.
 */
const lagWaitMs = 1000;
const tickMs = 3;
/** Chance per issued request that the workload takes a snapshot (at most `snapshotsMax` per run). */
const snapshotRate = 0.002;
const snapshotsMax = 3;

/**
 * One NBD client's part in the simulator, through the real router: random writes (some FUA),
 * trims, reads and FLUSHes against one replicated virtual disk, each reported to the disk model.
 * A FLUSH fails as the front end's does when the router counts writes a thread death may have
 * lost. At random moments it takes a snapshot (writes held until none is in flight, then the
 * control actor's `snapshot` and `sync`): each snapshot gets a frozen copy of the model. For hybrid
 * duplication it opens and closes connections at random, which switches the router between its
 * two protocols. After healing it compares the copies (compare-copies.ts).
 */
export function clusterWorkload(
  router: Router,
  pool: BufferPool,
  model: DiskModel,
  state: ClusterWorkloadState,
  disk: WorkloadDisk,
): Behavior<unknown> {
  return (context): Actor<unknown> => {
    const busy = new Set<number>();
    let inFlight = 0;
    let writesInFlight = 0;
    let seq = 1;
    let flushing = false;
    let lostReported = 0;
    /** A snapshot waiting for the writes in flight to drain, asked of the control actor, or taken. */
    let snapshotting: 'waiting' | 'asked' | 'taken' | undefined;
    const snapshots: TakenSnapshot[] = [];
    let comparing = false;
    /** Since when nothing of the workload has been in flight (while comparing is due). */
    let quietSince: number | undefined;

    const run = (work: () => Promise<void>): void => {
      inFlight += 1;
      void work().finally(() => (inFlight -= 1));
    };
    const control = (body: ControlRequest): Promise<ControlReply> => router.control(body, controlTimeoutMs);
    run(async () => {
      const create = {
        op: 'create',
        name: diskName,
        sizeBytes: disk.blockCount * blockBytes,
        replicas: 2,
        stripeBytes: disk.stripeBytes,
        ...(disk.layout === 'chained' ? {} : { mirror: disk.servers / 2, protocol: disk.layout }),
      } satisfies ControlRequest;
      // The create's answer may be lost: the disk is then looked for in the view, and created again
      // if the create itself was lost.
      while (!router.target(diskName)) if (!(await control(create)).ok) await control({ op: 'view' });
    });

    const issue = (): boolean => {
      const target = router.target(diskName);
      if (!target || (snapshotting && snapshotting !== 'taken')) return false;
      if (!snapshotting && snapshots.length < snapshotsMax && context.random() < snapshotRate) {
        snapshotting = 'waiting';
        return false;
      }
      const roll = context.random();
      if (roll < 0.06) {
        if (flushing) return false;
        run(flush);
        return true;
      }
      const block = Math.floor(context.random() * disk.blockCount);
      if (busy.has(block)) return false;
      busy.add(block);
      const unit = Math.floor((block * blockBytes) / disk.stripeBytes);
      if (roll < 0.35) run(() => read(target, block, unit));
      else run(() => write(target, block, unit, roll < 0.42));
      return true;
    };

    const read = async (target: ExportTarget, block: number, unit: number): Promise<void> => {
      const handle = pool.tryLease(blockBytes)!.handle;
      const ticket = model.readSent(block);
      let reply: DiskReplyTo<'read'>;
      try {
        reply = { ok: true, holes: await router.read(target, { unit, block, count: 1, atBytes: 0 }, handle) };
      } catch (error) {
        if (!(error instanceof WhorlError)) throw error;
        reply = { ok: false, code: error.code, message: error.message };
      }
      const bytes = Buffer.from(pool.view(handle));
      pool.release(handle);
      busy.delete(block);
      reportRead(model, block, reply, bytes, context.now(), ticket);
    };

    const write = async (target: ExportTarget, block: number, unit: number, trim: boolean): Promise<void> => {
      writesInFlight += 1;
      const mySeq = seq++;
      const fua = context.random() < 0.1;
      if (disk.layout === 'hybrid' && context.random() < 0.5) connect(Math.floor(context.random() * 5));
      const fields = { gmap: target.gmap, epoch: target.epoch, replicas: 2, block, count: 1, fua } as const;
      const lease = trim ? undefined : pool.tryLease(blockBytes)!;
      if (lease) blockContent(mySeq, block).copy(lease.bytes);
      const body: Extract<GroupRequest, { op: 'write' | 'trim' }> = lease
        ? { op: 'write', ...fields, handle: lease.handle }
        : { op: 'trim', ...fields };
      model.sent(block, mySeq, trim);
      try {
        await router.write(target, body, unit);
        model.acked(block, mySeq, fua);
      } catch (error) {
        if (!(error instanceof WhorlError)) throw error;
        model.failed(block, mySeq);
      } finally {
        if (lease) pool.release(lease.handle);
        busy.delete(block);
        writesInFlight -= 1;
      }
    };

    /** Hybrid duplication: as many NBD connections as `count` (more than a mirror group's servers: client-driven). */
    const connect = (count: number): void => {
      while (router.sessions.connections(diskName) < count) router.sessions.attach(diskName, 1);
      while (router.sessions.connections(diskName) > count) router.sessions.attach(diskName, -1);
    };

    const flush = async (): Promise<void> => {
      flushing = true;
      const covers = model.flushCovers();
      let complete: boolean | undefined;
      try {
        complete = await router.flush();
      } catch (error) {
        if (!(error instanceof WhorlError)) throw error;
      }
      flushing = false;
      if (complete === undefined) return;
      // As the front end's FLUSH (nbd/execute.ts): it fails once for writes a thread death may have lost.
      const lost = router.lostWrites();
      const vouched = lost === lostReported;
      lostReported = lost;
      if (vouched && (disk.strictFlush || complete)) model.flushed(covers);
    };

    /** Once no write is in flight: the snapshot, then (its answer may be lost) the view says whether it was taken. */
    const snapshot = async (name: string): Promise<void> => {
      let reply = await control({ op: 'snapshot', disk: diskName, name });
      while (!reply.ok) reply = await control({ op: 'view' });
      const taken = reply.view.disks
        .find((candidate) => candidate.name === diskName)
        ?.snapshots.find((candidate) => candidate.name === name);
      if (!taken) return void (snapshotting = undefined);
      // Answered, perhaps before its record is durable: writes go on in the new epoch while `sync`
      // says whether the snapshot was kept (a control crash may lose it).
      snapshotting = 'taken';
      const frozen = model.freeze();
      let synced = await control({ op: 'sync' });
      while (!synced.ok) synced = await control({ op: 'sync' });
      const kept = synced.view.disks
        .find((candidate) => candidate.name === diskName)
        ?.snapshots.find((candidate) => candidate.name === name);
      if (kept?.epoch === taken.epoch) snapshots.push({ name, epoch: kept.epoch, model: frozen });
      state.snapshots = snapshots.length;
      snapshotting = undefined;
    };

    const allUp = (): boolean => router.view?.servers.every((server) => server.state === 'up') === true;
    const compareWhenQuiet = (): void => {
      const target = router.target(diskName);
      // Not while a copy may still lag behind an early answer: it is being written, not different.
      // A lag whose caught-up tell was lost clears only once the router asks its group (at a FLUSH,
      // or while a read waits): wait for it a while only.
      if (inFlight > 0) quietSince = undefined;
      else quietSince ??= context.now();
      if (!target || inFlight > 0 || comparing || state.differing !== undefined || !allUp()) return;
      if (router.lagBytes(target.disk) > 0 && context.now() - quietSince! < lagWaitMs) return;
      comparing = true;
      void compareCopies(router, pool, target, snapshots, disk.blockCount, model, () => context.now()).then(
        (differing) => {
          comparing = false;
          state.differing = differing;
        },
      );
    };

    const tick = (): void => {
      if (state.compare) compareWhenQuiet();
      else if (snapshotting === 'waiting') {
        if (writesInFlight === 0) {
          snapshotting = 'asked';
          const name = `s${snapshots.length + 1}`;
          run(() => snapshot(name));
        }
      } else while (inFlight < inFlightMax && issue());
      context.setTimer(tickMs, 'tick');
    };
    context.setTimer(tickMs, 'tick');
    return { receive: (incoming) => (incoming.kind === 'timer' ? tick() : undefined) };
  };
}
