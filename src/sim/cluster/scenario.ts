import type { Behavior } from '../../actors/actor.js';
import { address } from '../../actors/address.js';
import { orderersOf } from '../../model/layout.js';
import type { DiskRequest } from '../../storage/disk-protocol.js';
import { DiskModel } from '../disk/model.js';
import { Simulation } from '../simulation.js';
import type { StorageFaults } from '../sim-storage.js';
import type { SeedResult } from '../seed-result.js';
import { simRouter, type ClusterVariant } from './sim-router.js';
import { simRouterHost, spawnClusterActors } from './cluster-actors.js';
import { clusterWorkload, type ClusterLayout, type ClusterWorkloadState } from './workload.js';

export const clusterFaultPhaseMs = 6000;
export const clusterConvergeMsMax = 30_000;
const servers = 4;
const blockCount = 64;
const stripeBytes = 64 * 1024;
const faultTickMs = 50;

export interface ClusterSeedResult extends SeedResult {
  readonly kills: number;
  readonly snapshots: number;
  readonly earlyAnswers: number;
}

/**
 * One seeded run of the cluster's actor code (control, 4 servers with their disks, 4 replica
 * groups) on the simulator, with the real router placing, writing, reading and flushing for a
 * workload that plays an NBD client (workload.ts). Faults: servers killed
 * with their disks (unflushed writes lost, kept or torn) and revived, the control actor killed and
 * revived (its unflushed records lost the same way), message loss and reordering,
 * flush errors, slow storage. The disk model checks every read. After healing, every server must
 * be up again and both copies of every block byte-identical.
 */
export interface ClusterSeedOptions {
  /** Each group's `busyRegionsMax`: 1 makes groups flush on their own after nearly every write. */
  readonly busyRegionsMax?: number;
  /**
   * The model holds a FLUSH durable once no group refused it, as an NBD client must (by default,
   * only once every group's primary flushed, as the router's `complete` says).
   */
  readonly strictFlush?: boolean;
  /**
   * Some server kills are worker-thread deaths: the replica group whose primary it is dies too (in
   * the daemon it shares the server's thread), and the client's next FLUSH fails once, as the
   * front end's does (`lostWrites`). Chained only: the daemon runs mirror groups on the main thread.
   */
  readonly threadDeaths?: boolean;
  /**
   * With `threadDeaths`: a death takes a whole worker thread of the daemon's placement (2 threads:
   * servers of one parity, their groups, and on the first thread the control actor).
   */
  readonly wholeThreads?: boolean;
}

export async function runClusterSeed(
  seed: number,
  variant: ClusterVariant = 'correct',
  layout: ClusterLayout = 'chained',
  options: ClusterSeedOptions = {},
): Promise<ClusterSeedResult> {
  const sim = new Simulation(seed);
  const prng = sim.prng;
  const model = new DiskModel(blockCount);
  const storage: StorageFaults = {
    latencyMsMax: 1 + prng.next() * 5,
    flushErrorRate: prng.next() * 0.02,
    keepUnflushedRate: prng.next(),
    tearRate: prng.next() * 0.5,
  };
  const lossRate = prng.next() * 0.01;
  const delayMsMax = 1 + prng.next() * 4;
  const killRate = 0.005 + prng.next() * 0.02;
  const faults = `kill=${killRate.toFixed(3)}/tick loss=${lossRate.toFixed(4)} delay<=${delayMsMax.toFixed(1)}ms flushErr=${storage.flushErrorRate.toFixed(3)} keep=${storage.keepUnflushedRate.toFixed(2)} tear=${storage.tearRate.toFixed(2)}`;
  const at = (actor: string) => address('sim', actor);
  const orderers = spawnClusterActors(sim, {
    servers,
    storage,
    ...(options.busyRegionsMax ? { busyRegionsMax: options.busyRegionsMax } : {}),
    ...(variant === 'ignore-stamps' ? { wrapDisk: unstamping } : {}),
  });
  const deathListeners: Array<(actors: ReadonlySet<string>) => void> = [];
  const router = simRouter(
    simRouterHost(sim, deathListeners),
    { servers, readTimeoutMs: 2000, writeTimeoutMs: 2000, orderers },
    variant,
  );
  const state: ClusterWorkloadState = { compare: false, differing: undefined, snapshots: 0 };
  const workload = clusterWorkload(router, sim.pool, model, state, {
    blockCount,
    stripeBytes,
    servers,
    layout,
    strictFlush: options.strictFlush === true,
  });
  sim.spawn(at('workload'), workload, undefined, true);
  sim.network = { lossRate, duplicateRate: 0, delayMsMax };

  let kills = 0;
  const injectFaults = (): void => {
    if (sim.scheduler.nowMs >= clusterFaultPhaseMs) return;
    if (prng.chance(killRate)) {
      // The control actor dies too (its unflushed records lost or kept as the disks' are).
      sim.kill(at('control'));
      sim.scheduler.at(50 + prng.next() * 500, () => sim.revive(at('control')));
    }
    if (prng.chance(killRate)) {
      const id = prng.int(servers);
      kills += 1;
      const threadDeath = options.threadDeaths === true && layout === 'chained' && prng.chance(0.5);
      const ids = threadDeath && options.wholeThreads ? [id % 2, (id % 2) + 2] : [id];
      const groups = threadDeath
        ? orderersOf(servers)
            .filter((orderer) => !orderer.mirror && ids.includes(orderer.primary))
            .map((orderer) => orderer.name)
        : [];
      if (threadDeath && options.wholeThreads && id % 2 === 0) groups.push('control');
      for (const one of ids) {
        sim.kill(at(`server-${one}`));
        sim.kill(at(`disk-${one}`));
      }
      for (const group of groups) sim.kill(at(group));
      // The runtime tells the router which actors a dead worker thread held.
      const died = new Set([...ids.flatMap((one) => [`server-${one}`, `disk-${one}`]), ...groups]);
      if (threadDeath) for (const listener of deathListeners) listener(died);
      model.crashed();
      sim.scheduler.at(50 + prng.next() * 1000, () => {
        for (const one of ids) {
          sim.revive(at(`disk-${one}`));
          sim.revive(at(`server-${one}`));
        }
        for (const group of groups) sim.revive(at(group));
      });
    }
    sim.scheduler.at(faultTickMs, injectFaults);
  };
  sim.scheduler.at(faultTickMs, injectFaults);

  await sim.runUntil(clusterFaultPhaseMs, () => model.violation !== undefined);
  sim.heal();
  const allUp = (): boolean => router.view?.servers.every((server) => server.state === 'up') === true;
  await sim.runUntil(clusterFaultPhaseMs + clusterConvergeMsMax, () => model.violation !== undefined || allUp());
  // The workload stops; a write still in flight may yet send a server through resync again.
  state.compare = true;
  await sim.runUntil(
    clusterFaultPhaseMs + 2 * clusterConvergeMsMax,
    () => model.violation !== undefined || state.differing !== undefined,
  );
  const violation =
    model.violation ??
    (state.differing?.length
      ? `copies differ after healing in blocks ${state.differing
          .slice(0, 8)
          .map((at) => `${at % blockCount} (epoch ${Math.floor(at / blockCount)})`)
          .join(', ')}`
      : undefined);
  const converged = allUp() && state.differing !== undefined;
  const created = router.target('sim');
  const finalStates = router.view?.servers.map((server) => `${server.id} ${server.state}`).join(', ') ?? 'no view';
  return {
    seed,
    violation,
    converged,
    traceHash: sim.traceHash(),
    writesAcked: model.writesAcked,
    readsChecked: model.readsChecked,
    kills,
    snapshots: state.snapshots,
    earlyAnswers: created ? router.answeredEarly(created.disk) : 0,
    faults: converged ? faults : `${faults}; servers at the end: ${finalStates}`,
  };
}

/** The 'ignore-stamps' variant: a disk that sees every write and trim without its stamp. */
function unstamping(disk: Behavior<DiskRequest>): Behavior<DiskRequest> {
  return (context) => {
    const actor = disk(context);
    return {
      receive: (incoming) => {
        if (!('body' in incoming)) return actor.receive(incoming);
        const body = incoming.body as DiskRequest;
        if (body.op !== 'write' && body.op !== 'trim') return actor.receive(incoming);
        const { seq: _seq, stamps: _stamps, ...unstamped } = body;
        actor.receive({ ...incoming, body: unstamped } as typeof incoming);
      },
    };
  };
}
