import test from 'ava';
import crypto from 'node:crypto';
import { Command, Errno } from '../src/nbd/protocol.js';
import { startCluster, type ClusterUnderTest } from './helpers/cluster.js';
import { RawClient } from './helpers/raw-client.js';
import { runOk } from './helpers/run.js';

const chunkBytes = 256 * 1024;

/** Writes `data` from offset 0 in 256 KiB writes, a few in flight; calls `midway` after a third. */
async function writeAll(client: RawClient, data: Buffer, midway: () => Promise<void>): Promise<number[]> {
  const errors: number[] = [];
  const chunks = data.length / chunkBytes;
  const window = 4;
  let sent = 0;
  let answered = 0;
  while (answered < chunks) {
    while (sent < chunks && sent - answered < window) {
      client.request(Command.Write, {
        cookie: BigInt(sent),
        offset: sent * chunkBytes,
        payload: data.subarray(sent * chunkBytes, (sent + 1) * chunkBytes),
      });
      sent += 1;
    }
    const reply = await client.reply();
    if (reply?.kind !== 'simple') throw new Error('connection lost');
    if (reply.error !== Errno.OK) errors.push(reply.error);
    answered += 1;
    if (answered === Math.floor(chunks / 3)) await midway();
  }
  client.request(Command.Flush, { cookie: 999n });
  const flushed = await client.reply();
  if (flushed?.kind !== 'simple' || flushed.error !== Errno.OK)
    errors.push(flushed?.kind === 'simple' ? flushed.error : -1);
  return errors;
}

async function sha256Of(cluster: ClusterUnderTest, bytes: number): Promise<string> {
  const result = await runOk('bash', ['-c', `nbdcopy ${cluster.uri()} - | head -c ${bytes} | sha256sum`]);
  return result.stdout.split(' ')[0]!;
}

interface DiskInfo {
  health: string;
  staleBytes: number;
}

for (const stopped of [1, 2]) {
  test(`a server (${stopped}) stopped in the middle of a 48 MiB write: no error, data intact, resync makes the copies equal`, async (t) => {
    t.timeout(180_000);
    const cluster = await startCluster();
    t.teardown(() => cluster.stop());
    const data = crypto.randomBytes(48 * 1024 * 1024);
    const expected = crypto.createHash('sha256').update(data).digest('hex');
    const client = await RawClient.connect(cluster.port);
    await client.go();
    const errors = await writeAll(client, data, async () => {
      await cluster.cliOk(['server', 'stop', String(stopped)]);
    });
    t.deepEqual(errors, [], 'the client saw no error');
    client.destroy();

    t.is(await sha256Of(cluster, data.length), expected, 'reads while degraded return what was written');
    const degraded = await cluster.json<DiskInfo>(['disk', 'info', 'default']);
    t.is(degraded.health, 'degraded');
    t.true(degraded.staleBytes > 0, `stale bytes ${degraded.staleBytes}`);
    const verifyWhileDown = await cluster.cli(['disk', 'verify', 'default']);
    t.not(verifyWhileDown.code, 0, 'a stopped server has no copy to compare');

    await cluster.cliOk(['server', 'start', String(stopped)]);
    await cluster.waitUntilUp();
    const healed = await cluster.json<DiskInfo>(['disk', 'info', 'default']);
    t.like(healed, { health: 'healthy', staleBytes: 0 });
    const report = await cluster.json<{ comparedBytes: number; differing: unknown[] }>(['disk', 'verify', 'default']);
    t.deepEqual(report.differing, [], 'both copies are byte-identical');
    t.true(report.comparedBytes >= data.length, `compared ${report.comparedBytes} bytes`);
    t.is(await sha256Of(cluster, data.length), expected, 'reads after resync return what was written');
  });
}

test('reads keep working while any one copy of every unit is reachable, and fail cleanly when none is', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const data = crypto.randomBytes(4 * 1024 * 1024);
  const client = await RawClient.connect(cluster.port);
  await client.go();
  t.deepEqual(await writeAll(client, data, async () => undefined), []);
  const expected = crypto.createHash('sha256').update(data).digest('hex');
  await cluster.cliOk(['server', 'stop', '0']);
  t.is(await sha256Of(cluster, data.length), expected);
  await cluster.cliOk(['server', 'stop', '2']);
  t.is(await sha256Of(cluster, data.length), expected, 'servers 0 and 2 share no unit');
  await cluster.cliOk(['server', 'stop', '1']);
  // Units 0 (servers 0, 1) and 1 (servers 1, 2) have no copy left: an I/O error, not a hang.
  client.request(Command.Read, { cookie: 7n, offset: 0, length: 4096 });
  const reply = await client.reply();
  t.like(reply, { kind: 'simple', error: Errno.EIO });
  client.destroy();
  for (const id of [0, 1, 2]) await cluster.cliOk(['server', 'start', String(id)]);
  await cluster.waitUntilUp();
  t.is(await sha256Of(cluster, data.length), expected);
  t.deepEqual((await cluster.json<{ differing: unknown[] }>(['disk', 'verify', 'default'])).differing, []);
});
