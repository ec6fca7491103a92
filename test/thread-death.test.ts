import test, { type ExecutionContext } from 'ava';
import { verifyReplicas } from '../src/admin/verify.js';
import { EmbeddedCluster } from '../src/cluster/embedded.js';
import { silentLogger } from '../src/log.js';
import { Command, Errno } from '../src/nbd/protocol.js';
import { NbdServer } from '../src/nbd/server.js';
import { blockBytes, regionBytes } from '../src/storage/block-keys.js';
import { stripeBytesDefault } from '../src/volumes/layout.js';
import { VolumeCatalog } from '../src/volumes/volume-catalog.js';
import { RawClient } from './helpers/raw-client.js';
import { scratchDirectory } from './helpers/scratch.js';

/**
 * A worker thread that dies takes its actors' memory with it: a replica group's record of what it
 * answered, and the writes its disks had not yet handed to LMDB. The runtime restarts them on
 * another thread, and the next FLUSH must not vouch for writes answered before the death.
 */
const servers = 4;

function payload(index: number, salt: number): Buffer {
  const bytes = Buffer.alloc(blockBytes);
  for (let at = 0; at < bytes.length; at += 4) bytes.writeUInt32BE((index * 7919 + salt * 104_729 + at) >>> 0, at);
  return bytes;
}

async function clusterAndClient(t: ExecutionContext, replicas: 1 | 2): Promise<{ cluster: EmbeddedCluster; client: RawClient; connect: () => Promise<RawClient> }> {
  const cluster = await EmbeddedCluster.start({
    dataDir: scratchDirectory('whorl-thread-death-'),
    servers,
    diskCapacityBytes: 1024 ** 3,
    defaultDiskSizeBytes: 256 * 1024 ** 2,
    defaultReplicas: 2,
    log: silentLogger(),
  });
  t.teardown(() => cluster.stop());
  if (replicas === 1) {
    const created = await cluster.router.control({ op: 'create', name: 'striped', sizeBytes: 256 * 1024 ** 2, replicas: 1, stripeBytes: stripeBytesDefault });
    if (!created.ok) throw new Error(created.message);
  }
  const server = new NbdServer(new VolumeCatalog(cluster.router, cluster.runtime.pool), cluster.runtime.pool, silentLogger());
  t.teardown(() => server.close(2000));
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected a TCP address');
  const connect = async (): Promise<RawClient> => {
    const client = await RawClient.connect(bound.port);
    t.teardown(() => client.destroy());
    await client.go(replicas === 1 ? 'striped' : 'default');
    return client;
  };
  return { cluster, client: await connect(), connect };
}

async function writeRegions(t: ExecutionContext, client: RawClient, count: number, salt: number): Promise<void> {
  for (let index = 0; index < count; index++) client.request(Command.Write, { cookie: BigInt(index), offset: index * regionBytes, payload: payload(index, salt) });
  for (let index = 0; index < count; index++) {
    const reply = await client.reply();
    t.true(reply?.kind === 'simple' && reply.error === Errno.OK, `write ${index} (salt ${salt}): ${reply?.kind === 'simple' ? reply.error : reply?.kind}`);
  }
}

async function flush(client: RawClient): Promise<number> {
  client.request(Command.Flush, { cookie: 999n });
  const reply = await client.reply();
  if (reply?.kind !== 'simple') throw new Error('no reply to FLUSH');
  return reply.error;
}

/** Kills the worker thread server 0 lives on and waits until its actors run again elsewhere. */
async function killServerThread(cluster: EmbeddedCluster): Promise<void> {
  const thread = cluster.runtime.where('server-0')!.thread;
  cluster.runtime.killThread(thread);
  for (let tries = 0; tries < 250 && cluster.runtime.where('server-0')!.thread === thread; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const reply = await cluster.router.control({ op: 'view' }).catch(() => undefined);
    const states = reply?.ok ? reply.view.servers.map((server) => server.state) : [];
    if (states.length === servers && states.every((state) => state === 'up')) return;
    if (Date.now() > deadline) throw new Error(`servers not up again: ${states.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const replicas of [2, 1] as const) {
  test(`${replicas} ${replicas === 1 ? 'replica' : 'replicas'}: the FLUSH after a worker thread died fails once, then FLUSHes vouch for later writes`, async (t) => {
    t.timeout(120_000);
    const { cluster, client, connect } = await clusterAndClient(t, replicas);
    const other = await connect();
    await writeRegions(t, client, 32, 1);
    t.is(await flush(client), Errno.OK, 'a FLUSH before any death');

    await writeRegions(t, client, 32, 2);
    await killServerThread(cluster);
    const later = await connect();
    t.is(await flush(client), Errno.EIO, 'writes answered before the death may be lost: the FLUSH says so');
    t.is(await flush(client), Errno.OK, 'reported once, as fsync reports a lost write-back');
    t.is(await flush(other), Errno.EIO, 'every connection that was open at the death hears of it once');
    t.is(await flush(other), Errno.OK);
    t.is(await flush(later), Errno.OK, 'a connection made after the death vouches only for what it saw');

    await writeRegions(t, client, 16, 3);
    t.is(await flush(client), Errno.OK);
    for (let index = 0; index < 32; index++) {
      client.request(Command.Read, { cookie: BigInt(index), offset: index * regionBytes, length: blockBytes });
      const reply = await client.reply();
      t.true(reply?.kind === 'simple' && reply.error === Errno.OK, `read ${index}`);
      const bytes = await client.mustRead(blockBytes);
      // Regions written after the death hold that write; the others, the write answered before
      // it, or (lost with the thread) the flushed one before that. Never anything else.
      const allowed = index < 16 ? [payload(index, 3)] : [payload(index, 2), payload(index, 1)];
      if (!allowed.some((candidate) => bytes.equals(candidate))) t.fail(`region ${index} holds neither of the writes it may`);
    }
    if (replicas === 2) {
      const report = await verifyReplicas(cluster.router, cluster.runtime.pool, cluster.router.target('default')!);
      t.deepEqual(report.differing, [], 'both copies equal once the restarted server has recovered');
      t.true(report.comparedBytes >= 32 * blockBytes, `compared ${report.comparedBytes} bytes`);
    }
  });
}
