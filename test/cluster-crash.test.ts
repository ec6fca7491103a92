import test from 'ava';
import { Command, Errno } from '../src/nbd/protocol.js';
import { Prng } from '../src/sim/prng.js';
import { BlockJournal, blockBytes } from './helpers/block-journal.js';
import { clusterDirectory, startCluster, type ClusterUnderTest } from './helpers/cluster.js';
import { RawClient } from './helpers/raw-client.js';

const rounds = Number(process.env.CLUSTER_CRASH_ROUNDS ?? 10);
const seed = Number(process.env.CLUSTER_CRASH_SEED ?? 1);
const blocks = 4096;
const readBytes = 1024 * 1024;

/** Reads every block of the journal's range and checks it; returns the problems found. */
async function checkAll(cluster: ClusterUnderTest, journal: BlockJournal): Promise<string[]> {
  const client = await RawClient.connect(cluster.port);
  await client.go();
  const problems: string[] = [];
  for (let offset = 0; offset < blocks * blockBytes; offset += readBytes) {
    client.request(Command.Read, { cookie: 1n, offset, length: readBytes });
    const reply = await client.reply();
    if (reply?.kind !== 'simple' || reply.error !== Errno.OK) throw new Error(`read at ${offset} failed`);
    const bytes = await client.mustRead(readBytes);
    for (let i = 0; i < readBytes / blockBytes; i++) {
      const block = offset / blockBytes + i;
      const content = bytes.subarray(i * blockBytes, (i + 1) * blockBytes);
      const problem = journal.check(block, content);
      if (problem) problems.push(problem);
      journal.settle(block, content);
    }
  }
  client.destroy();
  return problems;
}

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
    const problems = await checkAll(cluster, journal);
    t.deepEqual(problems.slice(0, 5), [], `round ${round} (seed ${seed})`);
    const verified = await cluster.cli(['disk', 'verify', 'default']);
    t.is(verified.code, 0, `round ${round}: the two copies are equal after recovery`);
    if (round === rounds) {
      await cluster.stop();
      break;
    }
    const client = await RawClient.connect(cluster.port);
    await client.go();
    const streaming = journal.stream(client, { flushEvery: 16, window: 16, random });
    await new Promise((resolve) => setTimeout(resolve, 300 + random() * 900));
    cluster.daemon.child.kill('SIGKILL');
    await cluster.daemon.exited;
    const { writes, flushes } = await streaming;
    totalWrites += writes;
    totalFlushes += flushes;
  }
  t.log(`${rounds} kills, ${totalWrites} requests, ${totalFlushes} flushes answered (seed ${seed})`);
  t.true(totalFlushes >= rounds, 'flushes were answered between kills');
});
