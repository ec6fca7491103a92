import test from 'ava';
import { runRegisterSeed } from '../src/sim/register/scenario.js';

const ciSeeds = Number(process.env['SIM_SEEDS'] ?? 300);

test(`the replicated register holds its model and converges on ${ciSeeds} seeds`, (t) => {
  let writes = 0;
  for (let seed = 1; seed <= ciSeeds; seed++) {
    const result = runRegisterSeed(seed);
    if (result.violation || !result.converged) {
      return t.fail(`seed ${seed}: ${result.violation ?? 'did not converge'} (replay: npm run sim -- --seed ${seed}; ${result.faults})`);
    }
    writes += result.writesAcked;
  }
  t.true(writes > ciSeeds * 10, `the workload made progress: ${writes} writes acknowledged`);
});

test('the harness finds the bug in the broken register (acknowledging before the replicas answer)', (t) => {
  let found: number | undefined;
  for (let seed = 1; seed <= ciSeeds && found === undefined; seed++) {
    if (runRegisterSeed(seed, 'ack-early').violation) found = seed;
  }
  t.not(found, undefined, `no violation in ${ciSeeds} seeds`);
  t.log(`first violating seed: ${found}`);
});

test('a seed reproduces its run exactly: same trace hash; another seed differs', (t) => {
  const first = runRegisterSeed(42);
  const again = runRegisterSeed(42);
  t.is(first.traceHash, again.traceHash);
  t.deepEqual(first, again);
  t.not(runRegisterSeed(43).traceHash, first.traceHash);
});
