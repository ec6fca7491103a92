import test from 'ava';
import { runDiskSeed } from '../src/sim/disk/scenario.js';

const ciSeeds = Number(process.env['SIM_DISK_SEEDS'] ?? 200);

test(`the disk actor keeps its durability model under crashes, torn and lost unflushed writes, and flush errors, on ${ciSeeds} seeds`, (t) => {
  let writes = 0;
  let kills = 0;
  for (let seed = 1; seed <= ciSeeds; seed++) {
    const result = runDiskSeed(seed);
    if (result.violation || !result.converged) {
      return t.fail(
        `seed ${seed}: ${result.violation ?? 'did not converge'} (replay: npm run sim -- --scenario disk --seed ${seed}; ${result.faults})`,
      );
    }
    writes += result.writesAcked;
    kills += result.kills;
  }
  t.true(writes > ciSeeds * 100, `${writes} writes acknowledged`);
  t.true(kills > ciSeeds, `${kills} disk kills`);
});

test('the disk model catches a client that trusts unflushed writes', (t) => {
  let found: number | undefined;
  for (let seed = 1; seed <= ciSeeds && found === undefined; seed++) {
    if (runDiskSeed(seed, 'trust-unflushed').violation) found = seed;
  }
  t.not(found, undefined, `no violation in ${ciSeeds} seeds`);
});

test('a disk seed reproduces its run exactly', (t) => {
  t.deepEqual(runDiskSeed(9), runDiskSeed(9));
  t.not(runDiskSeed(10).traceHash, runDiskSeed(9).traceHash);
});
