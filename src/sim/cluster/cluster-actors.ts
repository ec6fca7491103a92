import type { Behavior } from '../../actors/actor.js';
import { address } from '../../actors/address.js';
import { controlActor } from '../../control/control-actor.js';
import { replicaGroup } from '../../groups/replica-group.js';
import { orderersOf } from '../../model/layout.js';
import { serverActor } from '../../servers/server-actor.js';
import { regionBytes } from '../../storage/block-keys.js';
import { diskActor } from '../../storage/disk-actor.js';
import type { DiskRequest } from '../../storage/disk-protocol.js';
import type { RouterHost } from '../../volumes/router.js';
import type { Simulation } from '../simulation.js';
import type { StorageFaults } from '../sim-storage.js';

export interface ClusterActorsOptions {
  readonly servers: number;
  /** The storage faults of the control actor and the disks (calm if absent). */
  readonly storage?: StorageFaults;
  /** Each group's `busyRegionsMax`. */
  readonly busyRegionsMax?: number;
  /** Wraps each disk actor (the scenario's `ignore-stamps` variant). */
  readonly wrapDisk?: (disk: Behavior<DiskRequest>) => Behavior<DiskRequest>;
}

/**
 * Spawns on `sim`, as node 'sim', the actors of one host behind a router: the control actor
 * (whose views go to 'router' and the groups), every replica and mirror group, and each server
 * with its disk. Returns the groups' names (the router's `orderers`).
 */
export function spawnClusterActors(sim: Simulation, options: ClusterActorsOptions): string[] {
  const { servers, storage } = options;
  const at = (actor: string) => address('sim', actor);
  const orderers = orderersOf(servers);
  sim.spawn(
    at('control'),
    controlActor({
      servers,
      subscribers: ['router', ...orderers.map((orderer) => orderer.name)],
      heartbeatTimeoutMs: 1500,
    }) as Behavior,
    storage,
  );
  const lease = () => sim.pool.tryLease(regionBytes)!.handle;
  for (const { name, primary, secondary } of orderers) {
    const copyHandles = [lease(), lease()];
    const lagHandles = name.startsWith('mirror-') ? [lease(), lease(), lease(), lease()] : [];
    const busy = options.busyRegionsMax ? { busyRegionsMax: options.busyRegionsMax } : {};
    const group = { name, primary, secondary, servers, requestTimeoutMs: 600, copyHandles, lagHandles, ...busy };
    sim.spawn(at(name), replicaGroup(group) as Behavior);
  }
  for (let id = 0; id < servers; id++) {
    const disk = diskActor({ capacityBytes: 64 * 1024 * 1024 });
    sim.spawn(at(`disk-${id}`), (options.wrapDisk ? options.wrapDisk(disk) : disk) as Behavior, storage);
    sim.spawn(at(`server-${id}`), serverActor({ id, heartbeatMs: 200, diskTimeoutMs: 500 }) as Behavior);
  }
  return orderers.map((orderer) => orderer.name);
}

/**
 * The router's host on `sim`: it runs as the awaiting actor 'router', and hears of thread deaths
 * from whoever calls the listeners pushed on `deathListeners`.
 */
export function simRouterHost(
  sim: Simulation,
  deathListeners: Array<(actors: ReadonlySet<string>) => void> = [],
): RouterHost {
  return {
    spawnLocal: (actor, behavior) => void sim.spawn(address('sim', actor), behavior, undefined, true),
    onThreadDeath: (listener) => void deathListeners.push(listener),
  };
}
