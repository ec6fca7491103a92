import test, { type ExecutionContext } from 'ava';
import { verifyReplicas } from '../src/admin/verify.js';
import { EmbeddedCluster } from '../src/cluster/embedded.js';
import { Command, Errno } from '../src/nbd/protocol.js';
import { blockBytes, regionBytes } from '../src/storage/block-keys.js';
import { stripeBytesDefault } from '../src/model/layout.js';
import { RawClient } from './helpers/raw-client.js';
import { servedCluster } from './helpers/served-cluster.js';

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

async function clusterAndClient(
  t: ExecutionContext,
  replicas: number,
): Promise<{ cluster: EmbeddedCluster; client: RawClient; connect: () => Promise<RawClient> }> {
  const { cluster, port } = await servedCluster(t, 'whorl-thread-death-', {
    servers,
    defaultDiskSizeBytes: 256 * 1024 ** 2,
  });
  if (replicas === 1) {
    const created = await cluster.router.control({
      op: 'create',
      name: 'striped',
      sizeBytes: 256 * 1024 ** 2,
      replicas: 1,
      stripeBytes: stripeBytesDefault,
    });
    if (!created.ok) throw new Error(created.message);
  }
  const connect = async (): Promise<RawClient> => {
    const client = await RawClient.connect(port);
    t.teardown(() => client.destroy());
    await client.go(replicas === 1 ? 'striped' : 'default');
    return client;
  };
  return { cluster, client: await connect(), connect };
}

/** Writes regions 0, stride, 2 × stride, … (with 64 KiB units on 4 servers, a stride of 4 keeps to group 0). */
async function writeRegions(
  t: ExecutionContext,
  client: RawClient,
  count: number,
  salt: number,
  stride = 1,
): Promise<void> {
  for (let index = 0; index < count; index++)
    client.request(Command.Write, {
      cookie: BigInt(index),
      offset: index * stride * regionBytes,
      payload: payload(index, salt),
    });
  for (let index = 0; index < count; index++) {
    const reply = await client.reply();
    t.true(
      reply?.kind === 'simple' && reply.error === Errno.OK,
      `write ${index} (salt ${salt}): ${reply?.kind === 'simple' ? reply.error : reply?.kind}`,
    );
  }
}

async function flush(client: RawClient): Promise<number> {
  client.request(Command.Flush, { cookie: 999n });
  const reply = await client.reply();
  if (reply?.kind !== 'simple') throw new Error('no reply to FLUSH');
  return reply.error;
}

/**
 * Kills the worker thread server 0 lives on and waits until its actors run again elsewhere. The
 * restarted control actor counts every server as resyncing. A server stopped before (clean: it was
 * stopped before any write) does not hold its neighbours back: they are up again before it starts
 * (before `cleanFor`, they stayed resyncing until it did). Then it starts and resyncs.
 */
async function killServerThread(cluster: EmbeddedCluster, stopped?: number): Promise<void> {
  const thread = cluster.runtime.where('server-0')!.thread;
  cluster.runtime.killThread(thread);
  // The control actor died too (it lives on the first worker thread): wait until it answers again.
  for (let tries = 0; tries < 250; tries++) {
    if (
      cluster.runtime.where('server-0')!.thread !== thread &&
      (await cluster.router.control({ op: 'view' }).catch(() => undefined))?.ok
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (stopped !== undefined) {
    await serversBecome(
      cluster,
      (state, id) => state === (id === stopped ? 'stopped' : 'up'),
      `up but server ${stopped}, stopped`,
    );
    await cluster.startServer(stopped);
  }
  await serversBecome(cluster, (state) => state === 'up', 'all up');
}

async function serversBecome(
  cluster: EmbeddedCluster,
  wanted: (state: string, id: number) => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const reply = await cluster.router.control({ op: 'view' }).catch(() => undefined);
    const states = reply?.ok ? reply.view.servers.map((server) => server.state) : [];
    if (states.length === servers && states.every(wanted)) return;
    if (Date.now() > deadline) throw new Error(`servers not ${what}: ${states.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The cases: a 1-replica disk (its one copy died); a 2-replica disk with server 1 stopped, written
 * only in group 0's units, so that group 0 wrote its primary alone, and the primary and the group
 * died together (the group's ledger with them: only the router can tell); a healthy 2-replica
 * disk, whose every write has a copy on the thread that lives.
 */
const cases = [
  { name: '1 replica', replicas: 1, stopped: undefined, stride: 1, lost: true },
  { name: '2 replicas, server 1 stopped', replicas: 2, stopped: 1, stride: 4, lost: true },
  { name: '2 replicas', replicas: 2, stopped: undefined, stride: 1, lost: false },
] as const;

for (const { name, replicas, stopped, stride, lost } of cases) {
  test(`${name}: ${lost ? 'the FLUSH after a worker thread died with the only copy of writes fails once, then FLUSHes vouch for later writes' : 'a worker thread that dies with one copy of each write fails no FLUSH'}`, async (t) => {
    t.timeout(120_000);
    const { cluster, client, connect } = await clusterAndClient(t, replicas);
    if (stopped !== undefined) await cluster.stopServer(stopped);
    const other = await connect();
    await writeRegions(t, client, 32, 1, stride);
    t.is(await flush(client), Errno.OK, 'a FLUSH before any death');

    await writeRegions(t, client, 32, 2, stride);
    await killServerThread(cluster, stopped);
    const later = await connect();
    if (lost) {
      t.is(await flush(client), Errno.EIO, 'writes answered before the death may be lost: the FLUSH says so');
      t.is(await flush(client), Errno.OK, 'reported once, as fsync reports a lost write-back');
      t.is(await flush(other), Errno.EIO, 'every connection that was open at the death hears of it once');
      t.is(await flush(other), Errno.OK);
    } else {
      t.is(await flush(client), Errno.OK, 'the copies on the other thread kept every write');
      t.is(await flush(other), Errno.OK);
    }
    t.is(await flush(later), Errno.OK, 'a connection made after the death vouches only for what it saw');

    await writeRegions(t, client, 16, 3, stride);
    t.is(await flush(client), Errno.OK);
    for (let index = 0; index < 32; index++) {
      client.request(Command.Read, { cookie: BigInt(index), offset: index * stride * regionBytes, length: blockBytes });
      const reply = await client.reply();
      t.true(reply?.kind === 'simple' && reply.error === Errno.OK, `read ${index}`);
      const bytes = await client.mustRead(blockBytes);
      // Regions written after the death hold that write; the others, the write answered before
      // it, or (only where the FLUSH said so: lost with the thread) the flushed one before that.
      const allowed =
        index < 16 ? [payload(index, 3)] : lost ? [payload(index, 2), payload(index, 1)] : [payload(index, 2)];
      if (!allowed.some((candidate) => bytes.equals(candidate)))
        t.fail(`region ${index} holds neither of the writes it may`);
    }
    if (replicas === 2 && stopped === undefined) {
      const report = await verifyReplicas(cluster.router, cluster.runtime.pool, cluster.router.target('default')!);
      t.deepEqual(report.differing, [], 'both copies equal once the restarted server has recovered');
      t.true(report.comparedBytes >= 32 * blockBytes, `compared ${report.comparedBytes} bytes`);
    }
  });
}
