import test from 'ava';
import { Prng } from '../src/prng.js';
import { crashRound, type DiskState } from '../src/storage/crash/check.js';
import { temporaryDirectory } from './helpers/disk.js';

const rounds = Number(process.env.CRASH_ROUNDS ?? 20);
const seed = Number(process.env.CRASH_SEED ?? 42);

test(`kill -9 during writes, ${rounds} rounds: every flushed or FUA block survives whole, and no block is torn`, async (t) => {
  const dir = temporaryDirectory('whorl-crash-');
  const prng = new Prng(seed);
  let state: DiskState = new Map();
  let nextSeq = 1;
  let durable = 0;
  for (let round = 0; round < rounds; round++) {
    const result = await crashRound(dir, seed * 1000 + round, nextSeq, 150 + prng.int(600), state);
    t.deepEqual(result.violations, [], `round ${round} (CRASH_SEED=${seed})`);
    t.true(result.acked > 0, `round ${round} wrote something before the kill`);
    state = result.state;
    nextSeq = result.nextSeq;
    durable += result.durable;
  }
  t.true(durable > rounds * 10, `${durable} writes were durable when killed`);
  t.log(
    `${rounds} kills, ${nextSeq - 1} writes sent, ${durable} durable at their kill, ${state.size} blocks checked non-zero`,
  );
});
