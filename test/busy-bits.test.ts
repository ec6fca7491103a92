import test, { type ExecutionContext } from 'ava';
import { EmbeddedCluster } from '../src/cluster/embedded.js';
import { silentLogger } from '../src/log.js';
import { Command, Errno } from '../src/nbd/protocol.js';
import { NbdServer } from '../src/nbd/server.js';
import { blockBytes, regionBytes } from '../src/storage/block-keys.js';
import { VolumeCatalog } from '../src/volumes/volume-catalog.js';
import { RawClient } from './helpers/raw-client.js';
import { scratchDirectory } from './helpers/scratch.js';

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
async function clusterAndClient(t: ExecutionContext): Promise<{ cluster: EmbeddedCluster; client: RawClient }> {
  const cluster = await EmbeddedCluster.start({
    dataDir: scratchDirectory('whorl-busy-'),
    servers,
    diskCapacityBytes: 1024 ** 3,
    defaultDiskSizeBytes: 1024 ** 3,
    defaultReplicas: 2,
    log: silentLogger(),
    busyRegionsMax,
  });
  t.teardown(() => cluster.stop());
  const server = new NbdServer(new VolumeCatalog(cluster.router, cluster.runtime.pool), cluster.runtime.pool, silentLogger());
  t.teardown(() => server.close(2000));
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected a TCP address');
  const client = await RawClient.connect(bound.port);
  t.teardown(() => client.destroy());
  await client.go();
  return { cluster, client };
}

/** Busy regions on each server's disk (a group's busy bits live on its primary's disk). */
async function busyPerDisk(cluster: EmbeddedCluster): Promise<number[]> {
  return Promise.all(
    Array.from({ length: servers }, async (_, id) => {
      const reply = await cluster.router.server(id, { op: 'listMarks', kind: 'busy' });
      if (!reply.ok) throw new Error(reply.message);
      return reply.marks!.length;
    }),
  );
}

test('a client that never sends FLUSH: each replica group flushes on its own, so busy bits stay bounded, and every write reads back', async (t) => {
  t.timeout(120_000);
  const { cluster, client } = await clusterAndClient(t);

  // Each write in a region of its own: 256 regions per replica group, 8 times the bound, no FLUSH.
  const window = 16;
  let sent = 0;
  for (let answered = 0; answered < writes; answered++) {
    while (sent < writes && sent - answered < window) {
      client.request(Command.Write, { cookie: BigInt(sent), offset: sent * regionBytes, payload: payload(sent) });
      sent += 1;
    }
    const reply = await client.reply();
    t.true(reply?.kind === 'simple' && reply.error === Errno.OK, `write ${answered}`);
  }

  // The group's own flushes settle in the background: what is left is at most one flush's worth
  // in flight and the regions written since it began. Without them every region stays busy.
  const bounded = (counts: number[]): boolean => counts.every((count) => count <= 2 * busyRegionsMax);
  let counts = await busyPerDisk(cluster);
  for (let tries = 0; tries < 50 && !bounded(counts); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    counts = await busyPerDisk(cluster);
  }
  t.log(`busy regions per disk after ${writes} writes without FLUSH: ${counts.join(', ')} (bound ${busyRegionsMax})`);
  t.true(bounded(counts), `busy regions per disk: ${counts.join(', ')}`);

  for (let index = 0; index < writes; index++) {
    client.request(Command.Read, { cookie: BigInt(index), offset: index * regionBytes, length: blockBytes });
    const reply = await client.reply();
    t.true(reply?.kind === 'simple' && reply.error === Errno.OK);
    if (!(await client.mustRead(blockBytes)).equals(payload(index))) t.fail(`write ${index} reads back wrong`);
  }
});
