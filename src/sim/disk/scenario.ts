import { address } from '../../actors/address.js';
import { diskActor } from '../../storage/disk-actor.js';
import { Simulation } from '../simulation.js';
import type { StorageFaults } from '../sim-storage.js';
import { diskClient } from './client.js';
import { DiskModel } from './model.js';
import type { SeedResult } from '../seed-result.js';

export const diskFaultPhaseMs = 5000;
export const diskConvergeMsMax = 2000;
const blockCount = 16;
const faultTickMs = 20;

export type DiskModelVariant = 'correct' | 'trust-unflushed';

export interface DiskSeedResult extends SeedResult {
  readonly kills: number;
}

/**
 * One seeded run of the real disk actor code on the simulator's storage: random writes, FUA
 * writes, trims, reads and FLUSHes; the disk's process is killed at random moments (unflushed
 * writes lost, kept, or kept torn), flushes fail and storage is slow, at rates drawn from the
 * seed. The network between client and disk stays calm: they share a process, and in-process
 * delivery neither loses, duplicates nor reorders. Then everything heals and the disk must keep
 * answering within `diskConvergeMsMax`.
 */
export function runDiskSeed(seed: number, variant: DiskModelVariant = 'correct'): DiskSeedResult {
  const sim = new Simulation(seed);
  const prng = sim.prng;
  const model = new DiskModel(blockCount, variant === 'trust-unflushed');
  const storage: StorageFaults = {
    latencyMsMax: 1 + prng.next() * 10,
    flushErrorRate: prng.next() * 0.1,
    keepUnflushedRate: prng.next(),
    tearRate: prng.next() * 0.5,
  };
  const killRate = 0.01 + prng.next() * 0.05;
  const faults = `kill=${killRate.toFixed(3)}/tick flushErr=${storage.flushErrorRate.toFixed(3)} keep=${storage.keepUnflushedRate.toFixed(2)} tear=${storage.tearRate.toFixed(2)} latency<=${storage.latencyMsMax.toFixed(1)}ms`;
  const disk = address('sim', 'disk');
  sim.spawn(disk, diskActor({ capacityBytes: blockCount * 4096 }) as never, storage);
  sim.spawn(address('sim', 'client'), diskClient(disk, sim.pool, model, blockCount));

  let kills = 0;
  const injectFaults = (): void => {
    if (sim.scheduler.nowMs >= diskFaultPhaseMs) return;
    if (prng.chance(killRate)) {
      kills += 1;
      sim.kill(disk);
      model.crashed();
      sim.scheduler.at(5 + prng.next() * 100, () => sim.revive(disk));
    }
    sim.scheduler.at(faultTickMs, injectFaults);
  };
  sim.scheduler.at(faultTickMs, injectFaults);

  sim.scheduler.runUntil(diskFaultPhaseMs, () => model.violation !== undefined);
  sim.heal();
  const writesAtHeal = model.writesAcked;
  const readsAtHeal = model.readsChecked;
  const progressed = (): boolean =>
    model.violation !== undefined ||
    (model.writesAcked > writesAtHeal + blockCount && model.readsChecked > readsAtHeal + blockCount);
  sim.scheduler.runUntil(diskFaultPhaseMs + diskConvergeMsMax, progressed);
  return {
    seed,
    violation: model.violation,
    converged: progressed(),
    traceHash: sim.traceHash(),
    writesAcked: model.writesAcked,
    readsChecked: model.readsChecked,
    kills,
    faults,
  };
}
