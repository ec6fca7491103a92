import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runRegisterSeed } from '../src/sim/register/scenario.js';

const ciSeeds = Number(process.env['SIM_SEEDS'] ?? 300);

test(`the replicated register holds its model and converges on ${ciSeeds} seeds`, (t) => {
  let writes = 0;
  for (let seed = 1; seed <= ciSeeds; seed++) {
    const result = runRegisterSeed(seed);
    if (result.violation || !result.converged) {
      return t.fail(
        `seed ${seed}: ${result.violation ?? 'did not converge'} (replay: npm run sim -- --seed ${seed}; ${result.faults})`,
      );
    }
    writes += result.writesAcked;
  }
  t.true(writes > ciSeeds * 10, `the workload made progress: ${writes} writes acknowledged`);
});

test('flushes due at one virtual time complete in the order they were asked for (seed 1762 threw)', (t) => {
  const result = runRegisterSeed(1762);
  t.is(result.violation, undefined);
  t.true(result.converged);
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

test('the simulator command line: --help, and a one-line error with exit code 2 for an unknown option or a bad value', (t) => {
  const sim = (...args: string[]) =>
    spawnSync(process.execPath, [fileURLToPath(new URL('../src/sim/main.js', import.meta.url)), ...args], {
      encoding: 'utf8',
    });
  const help = sim('--help');
  t.is(help.status, 0);
  t.regex(help.stdout, /^Usage: npm run sim/);
  for (const [args, said] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--scenario', 'nope'], /--scenario: 'nope' is not/],
    [['--seeds', '0'], /--seeds: '0' is not a positive integer/],
  ] as const) {
    const result = sim(...args);
    t.is(result.status, 2, args.join(' '));
    t.regex(result.stderr, said);
    t.is(result.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${result.stderr}`);
  }
});
