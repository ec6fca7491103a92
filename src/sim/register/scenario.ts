import { address, type Address } from '../../actors/address.js';
import { Simulation } from '../simulation.js';
import type { StorageFaults } from '../sim-storage.js';
import { RegisterChecker } from './checker.js';
import { registerClient } from './client.js';
import { coordinator, type CoordinatorVariant } from './coordinator.js';
import { replica } from './replica.js';
import type { SeedResult } from '../seed-result.js';

export const faultPhaseMs = 10_000;
/** After healing, the register must make progress within this much virtual time. */
export const convergeMsMax = 2000;
const faultTickMs = 20;

export interface RegisterSeedResult extends SeedResult {
  readonly messages: number;
}

/**
 * One seeded run: three replicas, a coordinator and a client; a fault phase with rates drawn from
 * the seed (loss, duplication, delay and reordering, partitions, process kills with unflushed
 * writes lost or torn, flush errors, storage latency); then everything heals and the register
 * must acknowledge a new write and read it back within `convergeMsMax`.
 */
export function runRegisterSeed(seed: number, variant: CoordinatorVariant = 'correct'): RegisterSeedResult {
  const sim = new Simulation(seed);
  const prng = sim.prng;
  const replicas = [0, 1, 2].map((i) => address('sim', `replica-${i}`));
  const coordinatorAddress = address('sim', 'coordinator');
  const checker = new RegisterChecker();
  const storage: StorageFaults = {
    latencyMsMax: 1 + prng.next() * 20,
    flushErrorRate: prng.next() * 0.1,
    keepUnflushedRate: prng.next(),
    tearRate: prng.next() * 0.5,
  };
  sim.network = { lossRate: prng.next() * 0.15, duplicateRate: prng.next() * 0.1, delayMsMax: 1 + prng.next() * 30 };
  const killRate = prng.next() * 0.05;
  const partitionRate = prng.next() * 0.03;
  const faults = `loss=${sim.network.lossRate.toFixed(3)} dup=${sim.network.duplicateRate.toFixed(3)} delay<=${sim.network.delayMsMax.toFixed(1)}ms kill=${killRate.toFixed(3)}/tick partition=${partitionRate.toFixed(3)}/tick flushErr=${storage.flushErrorRate.toFixed(3)} tear=${storage.tearRate.toFixed(2)}`;

  for (const target of replicas) sim.spawn(target, replica, storage);
  sim.spawn(coordinatorAddress, coordinator(replicas, variant), storage);
  sim.spawn(address('sim', 'client'), registerClient(coordinatorAddress, checker));

  const victims: Address[] = [...replicas, coordinatorAddress];
  const injectFaults = (): void => {
    if (sim.scheduler.nowMs >= faultPhaseMs) return;
    if (prng.chance(killRate)) {
      const victim = prng.pick(victims);
      sim.kill(victim);
      sim.scheduler.at(20 + prng.next() * 300, () => sim.revive(victim));
    }
    if (prng.chance(partitionRate)) {
      sim.partitionOff([prng.pick(victims)]);
      sim.scheduler.at(50 + prng.next() * 400, () => sim.partitionOff([]));
    }
    sim.scheduler.at(faultTickMs, injectFaults);
  };
  sim.scheduler.at(faultTickMs, injectFaults);

  sim.scheduler.runUntil(faultPhaseMs, () => checker.violation !== undefined);
  sim.heal();
  const ackedAtHeal = checker.writesAcked;
  const readsAtHeal = checker.readsChecked;
  const progressed = (): boolean =>
    checker.violation !== undefined || (checker.writesAcked > ackedAtHeal && checker.readsChecked > readsAtHeal + 1);
  sim.scheduler.runUntil(faultPhaseMs + convergeMsMax, progressed);
  return {
    seed,
    violation: checker.violation,
    converged: progressed(),
    traceHash: sim.traceHash(),
    writesAcked: checker.writesAcked,
    readsChecked: checker.readsChecked,
    messages: sim.delivered,
    faults,
  };
}
