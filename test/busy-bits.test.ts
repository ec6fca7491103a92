import test, { type ExecutionContext } from 'ava';
import { EmbeddedCluster } from '../src/cluster/embedded.js';
import { Command, Errno } from '../src/nbd/protocol.js';
import { blockBytes, regionBytes } from '../src/storage/block-keys.js';
import { stripeBytesDefault } from '../src/model/layout.js';
import { RawClient } from './helpers/raw-client.js';
import { servedCluster } from './helpers/served-cluster.js';

const busyRegionsMax = 32;
const servers = 4;
const writes = 1024;

/** 4 KiB whose bytes say which write they are. */
function payload(index: number): Buffer {
  const bytes = Buffer.alloc(blockBytes);
  for (let at = 0; at < bytes.length; at += 4) bytes.writeUInt32BE(index * 7919 + at, at);
  return bytes;
}

/** An embedded cluster (4 servers, 2 replicas) in this process, served over NBD on loopback, and a client on it. */
async function clusterAndClient(
  t: ExecutionContext,
): Promise<{ cluster: EmbeddedCluster; client: RawClient; port: number }> {
  const { cluster, port } = await servedCluster(t, 'whorl-busy-', { servers, busyRegionsMax });
  const client = await RawClient.connect(port);
  t.teardown(() => client.destroy());
  await client.go();
  return { cluster, client, port };
}

/**
 * What is left with groups flushing on their own: at most one flush's worth in flight and the regions
 * written since it began.
 */
const bounded = (counts: number[]): boolean => counts.every((count) => count <= 2 * busyRegionsMax);

/** Busy regions on each listed server's disk (a group's busy bits live on its primary's disk). */
async function busyPerDisk(
  cluster: EmbeddedCluster,
  ids: readonly number[] = [...Array(servers).keys()],
): Promise<number[]> {
  return Promise.all(
    ids.map(async (id) => {
      const reply = await cluster.router.server(id, { op: 'listMarks', kind: 'busy' });
      if (!reply.ok) throw new Error(reply.message);
      return reply.marks!.length;
    }),
  );
}

/** Busy regions per listed disk once `done` holds of them, or as they are after 5 s. */
async function busyOnceSettled(
  cluster: EmbeddedCluster,
  ids: readonly number[],
  done: (counts: number[]) => boolean,
): Promise<number[]> {
  let counts = await busyPerDisk(cluster, ids);
  for (let tries = 0; tries < 50 && !done(counts); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    counts = await busyPerDisk(cluster, ids);
  }
  return counts;
}

/** Writes 4 KiB at the start of regions 0 .. count - 1, 16 in flight, each answered OK. */
async function writeRegions(t: ExecutionContext, client: RawClient, count: number): Promise<void> {
  const window = 16;
  let sent = 0;
  for (let answered = 0; answered < count; answered++) {
    while (sent < count && sent - answered < window) {
      client.request(Command.Write, { cookie: BigInt(sent), offset: sent * regionBytes, payload: payload(sent) });
      sent += 1;
    }
    const reply = await client.reply();
    t.true(reply?.kind === 'simple' && reply.error === Errno.OK, `write ${answered}`);
  }
}

async function readRegionsBack(t: ExecutionContext, client: RawClient, count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    client.request(Command.Read, { cookie: BigInt(index), offset: index * regionBytes, length: blockBytes });
    const reply = await client.reply();
    t.true(reply?.kind === 'simple' && reply.error === Errno.OK);
    if (!(await client.mustRead(blockBytes)).equals(payload(index))) t.fail(`write ${index} reads back wrong`);
  }
}

test('a client that never sends FLUSH: each replica group flushes on its own, so busy bits stay bounded, and every write reads back', async (t) => {
  t.timeout(120_000);
  const { cluster, client } = await clusterAndClient(t);

  // Each write in a region of its own: 256 regions per replica group, 8 times the bound, no FLUSH.
  await writeRegions(t, client, writes);
  // The group's own flushes settle in the background: what is left is at most one flush's worth
  // in flight and the regions written since it began. Without them every region stays busy.
  const counts = await busyOnceSettled(cluster, [...Array(servers).keys()], bounded);
  t.log(`busy regions per disk after ${writes} writes without FLUSH: ${counts.join(', ')} (bound ${busyRegionsMax})`);
  t.true(bounded(counts), `busy regions per disk: ${counts.join(', ')}`);
  await readRegionsBack(t, client, writes);
});

// Units are 64 KiB apart: group g (primary g, secondary g + 1) orders units g, g + 4, … With
// server 2 stopped, group 1 writes its primary alone and group 2 its secondary alone (server 3),
// both under stale marks; groups 0 and 3 are whole.
const stopped = 2;
const upServers = [0, 1, 3];

test('with a server stopped, a FLUSH clears the busy bits of every group whose primary is up', async (t) => {
  t.timeout(120_000);
  const { cluster, client } = await clusterAndClient(t);
  await cluster.stopServer(stopped);
  await writeRegions(t, client, 64);
  t.deepEqual(await busyPerDisk(cluster, upServers), [16, 16, 16], 'busy bits set before the flush');
  client.request(Command.Flush, { cookie: 999n });
  const flushed = await client.reply();
  t.true(flushed?.kind === 'simple' && flushed.error === Errno.OK);
  // Before, one group without its primary kept every group's bits: 16, 16, 16 stayed.
  const counts = await busyOnceSettled(cluster, upServers, (now) => now.every((count) => count === 0));
  t.deepEqual(
    counts,
    [0, 0, 0],
    `busy regions on servers ${upServers.join(', ')} after the FLUSH: ${counts.join(', ')}`,
  );
  await readRegionsBack(t, client, 64);
});

test('with a server stopped and a client that never sends FLUSH, busy bits stay bounded in every group', async (t) => {
  t.timeout(120_000);
  const { cluster, client } = await clusterAndClient(t);
  await cluster.stopServer(stopped);
  await writeRegions(t, client, writes);
  // Before, group 1 (its secondary out) never flushed on its own: server 1 kept 256 busy regions.
  const counts = await busyOnceSettled(cluster, upServers, bounded);
  t.log(`busy regions on servers ${upServers.join(', ')} after ${writes} writes without FLUSH: ${counts.join(', ')}`);
  t.true(bounded(counts), `busy regions on servers ${upServers.join(', ')}: ${counts.join(', ')}`);
  await readRegionsBack(t, client, writes);
});

test("a 1-replica disk's writes do not make the groups flush on their own and clear a 2-replica disk's busy bits", async (t) => {
  t.timeout(120_000);
  const { cluster, client, port } = await clusterAndClient(t);
  const created = await cluster.router.control({
    op: 'create',
    name: 'single',
    sizeBytes: 1024 ** 3,
    replicas: 1,
    stripeBytes: stripeBytesDefault,
  });
  t.true(created.ok);
  const single = await RawClient.connect(port);
  t.teardown(() => single.destroy());
  await single.go('single');
  // 16 regions of the 2-replica disk: 4 busy bits on each primary, kept until a FLUSH.
  await writeRegions(t, client, 16);
  t.deepEqual(await busyPerDisk(cluster), [4, 4, 4, 4]);
  // 256 regions per group on the 1-replica disk, 8 times the bound: they set no busy bit, so they
  // must not count towards it. Before, each group flushed on its own and cleared the 4 bits, which
  // the next write to those regions then had to set again, durably.
  await writeRegions(t, single, writes);
  const counts = await busyOnceSettled(cluster, [...Array(servers).keys()], (now) => now.some((count) => count < 4));
  t.deepEqual(counts, [4, 4, 4, 4], `busy regions per disk after the 1-replica writes: ${counts.join(', ')}`);
  await readRegionsBack(t, client, 16);
  await readRegionsBack(t, single, writes);
});
