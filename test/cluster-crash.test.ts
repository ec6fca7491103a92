import test from 'ava';
import { Prng } from '../src/prng.js';
import { BlockJournal } from './helpers/block-journal.js';
import { checkJournal } from './helpers/check-journal.js';
import { clusterDirectory, startCluster } from './helpers/cluster.js';
import { RawClient } from './helpers/raw-client.js';

const rounds = Number(process.env.CLUSTER_CRASH_ROUNDS ?? 10);
const seed = Number(process.env.CLUSTER_CRASH_SEED ?? 1);
const blocks = 4096;

test(`kill -9 of the whole daemon during writes with FLUSH and FUA, ${rounds} rounds: every flushed block intact, copies equal`, async (t) => {
  t.timeout(60_000 + rounds * 30_000);
  const generator = new Prng(seed);
  const random = (): number => generator.next();
  const dataDir = clusterDirectory();
  const journal = new BlockJournal(blocks);
  let totalWrites = 0;
  let totalFlushes = 0;
  for (let round = 0; round <= rounds; round++) {
    const cluster = await startCluster({ dataDir });
    t.teardown(() => cluster.stop());
    const problems = await checkJournal(cluster, journal, blocks);
    t.deepEqual(problems.slice(0, 5), [], `round ${round} (seed ${seed})`);
    const verified = await cluster.cli(['disk', 'verify', 'default']);
    t.is(verified.code, 0, `round ${round}: the two copies are equal after recovery`);
    if (round === rounds) {
      await cluster.stop();
      break;
    }
    const client = await RawClient.connect(cluster.port);
    await client.go();
    const { writes, flushes } = await journal.streamUntilKilled(client, {
      flushEvery: 16,
      window: 16,
      random,
      spreadMs: 900,
      kill: () => cluster.kill9(),
    });
    totalWrites += writes;
    totalFlushes += flushes;
  }
  t.log(`${rounds} kills, ${totalWrites} requests, ${totalFlushes} flushes answered (seed ${seed})`);
});
