import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { Command, Errno } from '../src/nbd/protocol.js';
import { startCluster, type ClusterUnderTest } from './helpers/cluster.js';
import { RawClient } from './helpers/raw-client.js';
import { runOk } from './helpers/run.js';

interface ServerInfo {
  id: number;
  state: string;
}

const states = async (cluster: ClusterUnderTest): Promise<string[]> =>
  (await cluster.json<ServerInfo[]>(['server', 'list'])).map((server) => server.state);

const sha256 = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

async function readBack(cluster: ClusterUnderTest, bytes: number): Promise<string> {
  return (await runOk('bash', ['-c', `nbdcopy ${cluster.uri()} - | head -c ${bytes} | sha256sum`])).stdout.split(
    ' ',
  )[0]!;
}

async function writeFile(cluster: ClusterUnderTest, data: Buffer, name: string): Promise<void> {
  const file = path.join(cluster.dataDir, name);
  fs.writeFileSync(file, data);
  await runOk('nbdcopy', [file, cluster.uri()]);
}

test('a daemon restarted with a server stopped for maintenance serves at once, its neighbours up; the server resyncs when started', async (t) => {
  t.timeout(180_000);
  const first = await startCluster();
  t.teardown(() => first.stop());
  await writeFile(first, crypto.randomBytes(8 * 1024 * 1024), 'before');
  const stop = await first.cliOk(['server', 'stop', '1']);
  t.is(stop.stderr, '', 'a clean stop warns of nothing');
  const whileStopped = crypto.randomBytes(8 * 1024 * 1024);
  await writeFile(first, whileStopped, 'while-stopped');
  await first.stop();
  t.is((await first.daemon.exited).code, 0);

  // Before: servers 0 and 2 stayed resyncing (their partner's stale marks could not be read),
  // and start-up gave up after 120 s.
  const again = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => again.stop());
  t.deepEqual(await states(again), ['up', 'stopped', 'up', 'up']);
  t.is(
    await readBack(again, whileStopped.length),
    sha256(whileStopped),
    'the writes made while it was stopped read back',
  );

  await again.cliOk(['server', 'start', '1']);
  await again.waitUntilUp();
  const report = await again.json<{ differing: unknown[] }>(['disk', 'verify', 'default']);
  t.deepEqual(report.differing, [], 'server 1 got what it missed');
  t.is(await readBack(again, whileStopped.length), sha256(whileStopped));
});

test('with both copies of some units stopped, a restart serves the rest at once, and starting both heals everything', async (t) => {
  t.timeout(180_000);
  const first = await startCluster();
  t.teardown(() => first.stop());
  await first.cliOk(['server', 'stop', '0']);
  // With server 0 out, group 0's writes go to server 1 alone, marked stale there: server 1 then
  // stops holding writes server 0 lacks (not clean for group 0), but clean for its other groups.
  const data = crypto.randomBytes(8 * 1024 * 1024);
  await writeFile(first, data, 'data');
  const stop = await first.cliOk(['server', 'stop', '1']);
  t.regex(
    stop.stderr,
    /server 1 was stopped holding writes the other copy lacks .* in the units of group-0: reads of them fail until it starts again/,
  );
  const stopped = await first.json<Array<ServerInfo & { cleanFor: string[] }>>(['server', 'list']);
  t.false(stopped[1]!.cleanFor.includes('group-0'));
  t.true(stopped[1]!.cleanFor.includes('group-1'));
  t.true(stopped[0]!.cleanFor.includes('group-0'));
  await first.stop();

  const again = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => again.stop());
  t.deepEqual(await states(again), ['stopped', 'stopped', 'up', 'up']);
  await again.cliOk(['server', 'start', '1']);
  await again.cliOk(['server', 'start', '0']);
  await again.waitUntilUp();
  const report = await again.json<{ differing: unknown[] }>(['disk', 'verify', 'default']);
  t.deepEqual(report.differing, []);
  t.is(await readBack(again, data.length), sha256(data), 'every write reads back once both are started');
});

test('a server stopped before stops were recorded clean leaves its neighbours resyncing: the daemon serves after 5 s and says why', async (t) => {
  t.timeout(180_000);
  const first = await startCluster();
  t.teardown(() => first.stop());
  const data = crypto.randomBytes(4 * 1024 * 1024);
  await writeFile(first, data, 'data');
  await first.cliOk(['server', 'stop', '1']);
  await first.stop();
  // As a data directory from before this change has it: stopped, with nothing known about its marks.
  const control = open<Buffer, string>({ path: path.join(first.dataDir, 'control'), encoding: 'binary' });
  await control.put('stopped:1', Buffer.alloc(0));
  await control.close();

  const again = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => again.stop());
  // Server 3 too: it and server 1 are a mirror pair, whose marks were not read either.
  t.regex(again.daemon.logs(), /servers 0, 2, 3 stay resyncing until server 1 starts/);
  t.deepEqual(await states(again), ['resyncing', 'stopped', 'resyncing', 'resyncing']);
  // Unit 0 (servers 0 and 1): server 0 cannot finish resyncing while server 1 is stopped, so a
  // read fails at once rather than after the 12 s a returning copy is waited for.
  const client = await RawClient.connect(again.port);
  await client.go();
  const asked = Date.now();
  client.request(Command.Read, { cookie: 1n, offset: 0, length: 4096 });
  t.like(await client.reply(), { kind: 'simple', error: Errno.EIO });
  t.true(Date.now() - asked < 3_000, `answered in ${Date.now() - asked} ms`);
  client.destroy();
  await again.cliOk(['server', 'start', '1']);
  await again.waitUntilUp();
  t.is(await readBack(again, data.length), sha256(data));
});
