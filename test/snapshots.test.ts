import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from '../src/nbd/protocol.js';
import { startCluster, type ClusterUnderTest } from './helpers/cluster.js';
import { RawClient } from './helpers/raw-client.js';
import { run, runOk } from './helpers/run.js';

interface DiskInfo {
  name: string;
  allocatedBytes: number;
  origin: string | null;
}
interface ServerInfo {
  allocatedBytes: number | null;
}
interface SnapshotInfo {
  name: string;
  epoch: number;
  sizeBytes: number;
  createdAt: string;
  heldAloneBytes: number;
  clones: string[];
}

const MiB = 1024 * 1024;

/** qemu-io commands against one export; fails the test with qemu-io's output when a pattern does not match. */
async function qemuIo(uri: string, commands: string[], readOnly = false): Promise<string> {
  const args = ['-f', 'raw', ...(readOnly ? ['-r'] : []), ...commands.flatMap((command) => ['-c', command]), uri];
  const result = await runOk('qemu-io', args);
  if (/Pattern verification failed|error/i.test(result.stdout + result.stderr))
    throw new Error(`qemu-io ${commands.join('; ')} on ${uri}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

async function serverBytes(cluster: ClusterUnderTest): Promise<number> {
  const servers = await cluster.json<ServerInfo[]>(['server', 'list']);
  return servers.reduce((sum, server) => sum + (server.allocatedBytes ?? 0), 0);
}

test('a snapshot keeps what was written before it; a clone diverges on its own; deleting both returns the space', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await qemuIo(cluster.uri(), ['write -P 0xaa 0 2M']);
  t.regex(
    (await cluster.cliOk(['snapshot', 'create', 'default@s1'])).stdout,
    /created default@s1 \(writes held [\d.]+ ms, took [\d.]+ ms\)/,
  );
  await qemuIo(cluster.uri(), ['write -P 0xbb 1M 2M']);

  await qemuIo(cluster.uri('default@s1'), ['read -P 0xaa 0 2M', 'read -P 0 2M 1M'], true);
  await qemuIo(cluster.uri(), ['read -P 0xaa 0 1M', 'read -P 0xbb 1M 2M']);

  await cluster.cliOk(['clone', 'create', 'default@s1', 'c1']);
  await qemuIo(cluster.uri('c1'), [
    'read -P 0xaa 0 2M',
    'write -P 0xcc 0 512k',
    'write -z 1M 64k',
    'read -P 0xcc 0 512k',
    'read -P 0xaa 512k 512k',
    'read -P 0 1M 64k',
    'read -P 0xaa 1088k 960k',
  ]);
  await qemuIo(cluster.uri(), ['write -P 0xdd 2560k 512k']);
  await qemuIo(cluster.uri('c1'), ['read -P 0 2M 1M']);
  await qemuIo(cluster.uri('default@s1'), ['read -P 0xaa 0 2M', 'read -P 0 2M 1M'], true);
  await qemuIo(cluster.uri(), ['read -P 0xaa 0 1M', 'read -P 0xbb 1M 1536k', 'read -P 0xdd 2560k 512k']);
  t.like(await cluster.json<DiskInfo>(['disk', 'info', 'c1']), {
    name: 'c1',
    origin: 'default@s1',
    allocatedBytes: 512 * 1024,
  });

  const listing = (await runOk('nbdinfo', ['--list', '--json', cluster.uri()])).stdout;
  t.deepEqual((JSON.parse(listing).exports as Array<{ 'export-name': string }>).map((e) => e['export-name']).sort(), [
    'c1',
    'default',
    'default@s1',
  ]);
  const info = JSON.parse((await runOk('nbdinfo', ['--json', cluster.uri('default@s1')])).stdout);
  t.is(info.exports[0]['is_read_only'], true, 'the snapshot is advertised READ_ONLY');

  // A write to the snapshot fails with EPERM; the connection and the others carry on.
  const client = await RawClient.connect(cluster.port);
  t.teardown(() => client.destroy());
  await client.go('default@s1');
  client.request(Command.Write, { cookie: 7n, offset: 0, payload: Buffer.alloc(4096, 0xee) });
  t.like(await client.reply(), { kind: 'simple', error: 1, cookie: 7n });
  client.request(Command.Read, { cookie: 8n, offset: 0, length: 4096 });
  t.like(await client.reply(), { kind: 'simple', error: 0, cookie: 8n });
  t.true((await client.mustRead(4096)).equals(Buffer.alloc(4096, 0xaa)));

  const [snapshot] = await cluster.json<SnapshotInfo[]>(['snapshot', 'list', 'default']);
  t.like(snapshot, { name: 'default@s1', epoch: 0, sizeBytes: 1024 ** 3, heldAloneBytes: MiB, clones: ['c1'] });
  t.false(Number.isNaN(Date.parse(snapshot!.createdAt)));

  client.request(Command.Disc);
  client.destroy();
  await cluster.cliOk(['disk', 'delete', 'c1']);
  await cluster.cliOk(['snapshot', 'delete', 'default@s1', '--wait']);
  t.deepEqual(await cluster.json<SnapshotInfo[]>(['snapshot', 'list', 'default']), []);
  // The disk alone: 0xaa in 0-1M, 0xbb in 1M-2.5M, 0xdd in 2.5M-3M, two copies.
  t.is(await serverBytes(cluster), 2 * 3 * MiB, 'space returns to what the disk alone needs');
  await qemuIo(cluster.uri(), ['read -P 0xaa 0 1M', 'read -P 0xbb 1M 1536k', 'read -P 0xdd 2560k 512k']);
  t.not((await run('nbdinfo', [cluster.uri('default@s1')])).code, 0, 'the export is gone');
});

const refusals: Array<[string[], RegExp]> = [
  [['snapshot', 'create', 'default@s1'], /disk 'default' already has a snapshot named 's1'/],
  [['snapshot', 'create', 'nosuch@s1'], /no virtual disk named 'nosuch'/],
  [['snapshot', 'create', 'default@a/b'], /snapshot name 'a\/b'/],
  [['snapshot', 'create', 'default@x@y'], /'default@x@y' is not a snapshot name: use DISK@NAME/],
  [['snapshot', 'create', 'default'], /'default' is not a snapshot name: use DISK@NAME/],
  [['snapshot', 'delete', 'default@nosuch'], /disk 'default' has no snapshot named 'nosuch'/],
  [['snapshot', 'delete', 'default@s1'], /snapshot 'default@s1' is the origin of clone 'c1'; delete the clone first/],
  [['snapshot', 'list', 'nosuch'], /no virtual disk named 'nosuch'/],
  [['clone', 'create', 'default@nosuch', 'c2'], /disk 'default' has no snapshot named 'nosuch'/],
  [['clone', 'create', 'default@s1', 'c1'], /a virtual disk named 'c1' already exists/],
  [['clone', 'create', 'default@s1', 'bad@name'], /disk name 'bad@name'/],
  [
    ['disk', 'delete', 'default', '--force'],
    /disk 'default' has snapshot 'default@s1', the origin of clone 'c1'; delete the clone first/,
  ],
  [['disk', 'rollback', 'default@nosuch'], /disk 'default' has no snapshot named 'nosuch'/],
  [['disk', 'rollback', 'default@s1'], /disk 'default' has 1 NBD connection; disconnect them or use --force/],
];

test('snapshot, clone and rollback commands refuse bad input with one clear line and change nothing', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await qemuIo(cluster.uri(), ['write -P 0xaa 0 1M']);
  await cluster.cliOk(['snapshot', 'create', 'default@s1']);
  await cluster.cliOk(['clone', 'create', 'default@s1', 'c1']);
  const client = await RawClient.connect(cluster.port);
  t.teardown(() => client.destroy());
  await client.go('default');
  const before = [
    await cluster.json<SnapshotInfo[]>(['snapshot', 'list', 'default']),
    await cluster.json<DiskInfo[]>(['disk', 'list']),
  ];
  for (const [args, message] of refusals) {
    const result = await cluster.cli(args);
    t.not(result.code, 0, args.join(' '));
    t.regex(result.stderr, message, args.join(' '));
    t.is(result.stderr.trim().split('\n').length, 1, args.join(' '));
  }
  t.deepEqual(
    [
      await cluster.json<SnapshotInfo[]>(['snapshot', 'list', 'default']),
      await cluster.json<DiskInfo[]>(['disk', 'list']),
    ],
    before,
  );
  await qemuIo(cluster.uri('c1'), ['read -P 0xaa 0 1M']);
});

test('rollback makes the disk read as the snapshot again (refused while connected unless --force); later snapshots stay', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await qemuIo(cluster.uri(), ['write -P 0x11 0 1M']);
  await cluster.cliOk(['snapshot', 'create', 'default@one']);
  await qemuIo(cluster.uri(), ['write -P 0x22 0 2M']);
  await cluster.cliOk(['snapshot', 'create', 'default@two']);
  await qemuIo(cluster.uri(), ['write -P 0x33 512k 2M']);
  const client = await RawClient.connect(cluster.port);
  t.teardown(() => client.destroy());
  await client.go('default');
  t.regex((await cluster.cli(['disk', 'rollback', 'default@one'])).stderr, /has 1 NBD connection/);
  await qemuIo(cluster.uri(), ['read -P 0x22 0 512k', 'read -P 0x33 512k 2M']);
  await cluster.cliOk(['disk', 'rollback', 'default@one', '--force']);
  client.request(Command.Read, { cookie: 1n, offset: 0, length: 4096 });
  t.like(await client.reply(), { error: 0 });
  t.true(
    (await client.mustRead(4096)).equals(Buffer.alloc(4096, 0x11)),
    'a connected client reads the rolled-back disk',
  );
  await qemuIo(cluster.uri(), ['read -P 0x11 0 1M', 'read -P 0 1M 2M', 'write -P 0x44 0 4k', 'read -P 0x44 0 4k']);
  await qemuIo(cluster.uri('default@one'), ['read -P 0x11 0 4k'], true);
  await qemuIo(cluster.uri('default@two'), ['read -P 0x22 0 2M', 'read -P 0 2M 1M'], true);
  // The rolled-back disk has no copy of its own yet: only the block written since.
  t.like(await cluster.json<DiskInfo>(['disk', 'info', 'default']), { allocatedBytes: 4096 });
});

/**
 * Writes answered before `snapshot create` started are in the snapshot; writes answered after it
 * returned are not — checked block by block while 8 writes stay in flight.
 */
test('a snapshot under load is crash-consistent and survives a restart', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const client = await RawClient.connect(cluster.port);
  t.teardown(() => client.destroy());
  await client.go('default');
  const blocks = 3000;
  const answeredAt: number[] = [];
  const payload = (block: number) => Buffer.alloc(4096, (block % 250) + 1);
  let sent = 0;
  const send = () => {
    client.request(Command.Write, { cookie: BigInt(sent), offset: sent * 4096, payload: payload(sent) });
    sent += 1;
  };
  let snapshotStarted = 0;
  let snapshotEnded = 0;
  const writer = (async () => {
    for (let i = 0; i < 8; i++) send();
    for (let answered = 0; answered < blocks; answered++) {
      const reply = await client.reply();
      if (!reply || reply.kind !== 'simple' || reply.error !== 0)
        throw new Error(`write failed: ${JSON.stringify(reply)}`);
      answeredAt[Number(reply.cookie)] = performance.now();
      if (sent < blocks) send();
    }
  })();
  // The snapshot comes once some writes are answered (on a loaded CI machine the first ones can
  // take longer than any fixed pause: busy bits are set durably), while most are still to come.
  const deadline = performance.now() + 60_000;
  while (answeredAt.filter((at) => at !== undefined).length < 200 && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  snapshotStarted = performance.now();
  const created = await cluster.cliOk(['snapshot', 'create', 'default@under-load']);
  snapshotEnded = performance.now();
  await writer;
  t.log(created.stdout.trim());
  const image = path.join(cluster.dataDir, 'snapshot.img');
  const check = async (uri: string) => {
    await runOk('nbdcopy', [uri, image]);
    const bytes = fs.readFileSync(image);
    let inside = 0;
    let outside = 0;
    for (let block = 0; block < blocks; block++) {
      const held = bytes.subarray(block * 4096, (block + 1) * 4096);
      if (answeredAt[block]! < snapshotStarted) {
        t.true(held.equals(payload(block)), `block ${block} was answered before the snapshot`);
        inside += 1;
      } else if (answeredAt[block]! > snapshotEnded) {
        t.true(held.equals(Buffer.alloc(4096)), `block ${block} was answered after the snapshot`);
        outside += 1;
      } else t.true(held.equals(payload(block)) || held.equals(Buffer.alloc(4096)), `block ${block} is whole`);
    }
    return [inside, outside];
  };
  const [inside, outside] = await check(cluster.uri('default@under-load'));
  t.true(inside > 0 && outside > 0, `writes before (${inside}) and after (${outside}) the snapshot`);
  client.request(Command.Disc);
  client.destroy();

  await cluster.stop();
  const again = await startCluster({ dataDir: cluster.dataDir });
  t.teardown(() => again.stop());
  t.deepEqual(
    await check(again.uri('default@under-load')),
    [inside, outside],
    'the snapshot is the same after a restart',
  );
});

test('a snapshot taken while a server is down is complete on both copies once the server returns', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await qemuIo(cluster.uri(), ['write -P 0x0a 0 1M']);
  await cluster.cliOk(['server', 'stop', '1']);
  await qemuIo(cluster.uri(), ['write -P 0xaa 0 2M']);
  await cluster.cliOk(['snapshot', 'create', 'default@while-down']);
  await qemuIo(cluster.uri(), ['write -P 0xbb 1M 2M']);
  await cluster.cliOk(['server', 'start', '1']);
  await cluster.waitUntilUp();
  for (const name of ['default@while-down', 'default']) {
    const report = await cluster.json<{ comparedBytes: number; differing: unknown[] }>(['disk', 'verify', name]);
    t.deepEqual(report.differing, [], `${name}: both copies equal`);
    t.true(report.comparedBytes >= 2 * MiB, `${name}: compared ${report.comparedBytes} bytes`);
  }
  // Server 1's copy alone (its partners 0 and 2 stopped in turn) serves the snapshot.
  await cluster.cliOk(['server', 'stop', '0']);
  await qemuIo(cluster.uri('default@while-down'), ['read -P 0xaa 0 2M'], true);
  await cluster.cliOk(['server', 'start', '0']);
  await cluster.waitUntilUp();
  await cluster.cliOk(['server', 'stop', '2']);
  await qemuIo(cluster.uri('default@while-down'), ['read -P 0xaa 0 2M'], true);
});

test('a clone resyncs through its snapshot: holes it made stay holes, shared blocks read the same from either copy', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await qemuIo(cluster.uri(), ['write -P 0x5a 0 1M']);
  await cluster.cliOk(['snapshot', 'create', 'default@base']);
  await cluster.cliOk(['clone', 'create', 'default@base', 'kid']);
  await cluster.cliOk(['server', 'stop', '1']);
  // Units 0-3 of 64 KiB: server 1 holds copies of units 0 (secondary), 1 (primary) and 5.
  await qemuIo(cluster.uri('kid'), ['write -z 64k 64k', 'discard 16k 16k', 'write -P 0x6b 160k 8k']);
  await cluster.cliOk(['server', 'start', '1']);
  await cluster.waitUntilUp();
  t.deepEqual((await cluster.json<{ differing: unknown[] }>(['disk', 'verify', 'kid'])).differing, []);
  const expect = [
    'read -P 0x5a 0 16k',
    'read -P 0 16k 16k',
    'read -P 0x5a 32k 32k',
    'read -P 0 64k 64k',
    'read -P 0x5a 128k 32k',
    'read -P 0x6b 160k 8k',
    'read -P 0x5a 168k 856k',
  ];
  for (const stopped of ['0', '2']) {
    await cluster.cliOk(['server', 'stop', stopped]);
    await qemuIo(cluster.uri('kid'), expect);
    await cluster.cliOk(['server', 'start', stopped]);
    await cluster.waitUntilUp();
  }
  await qemuIo(cluster.uri('default@base'), ['read -P 0x5a 0 1M'], true);
});

test('after kill -9 the disk moves to its reserved epoch, keeps every flushed write, and its overwritten older versions are collected at the next start', async (t) => {
  const first = await startCluster();
  t.teardown(() => first.stop());
  await qemuIo(first.uri(), ['write -P 10 0 64k', 'flush']);
  await first.kill9();

  const second = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => second.stop());
  await second.waitUntilUp();
  await qemuIo(second.uri(), ['read -P 10 0 64k']);
  await qemuIo(second.uri(), ['write -P 11 0 64k', 'flush']);
  // Both versions are stored: epoch 0's, and the one written after the move.
  t.is(await serverBytes(second), 2 * 2 * 65536);
  await second.kill9();

  const third = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => third.stop());
  await third.waitUntilUp();
  await qemuIo(third.uri(), ['read -P 11 0 64k']);
  const deadline = Date.now() + 30_000;
  let bytes = await serverBytes(third);
  while (bytes !== 2 * 65536 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    bytes = await serverBytes(third);
  }
  t.is(bytes, 2 * 65536, 'only the newest version is left, on both copies');
  await qemuIo(third.uri(), ['read -P 11 0 64k']);
  const epochOf = async (cluster: ClusterUnderTest) =>
    (await cluster.json<{ epoch: number }>(['disk', 'info', 'default'])).epoch;
  t.is(await epochOf(third), 2, 'each kill -9 moved the disk one epoch');

  // An orderly stop gives the reservation back: the next start keeps the epoch.
  await third.stop();
  const fourth = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => fourth.stop());
  t.is(await epochOf(fourth), 2, 'an orderly restart moves nothing');
  await qemuIo(fourth.uri(), ['read -P 11 0 64k']);
});
