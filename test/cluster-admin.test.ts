import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command } from '../src/nbd/protocol.js';
import { startCluster } from './helpers/cluster.js';
import { whorlBin } from './helpers/daemon.js';
import { RawClient } from './helpers/raw-client.js';
import { run, runOk } from './helpers/run.js';

interface DiskInfo {
  name: string;
  sizeBytes: number;
  allocatedBytes: number;
  replicas: number;
  health: string;
  staleBytes: number;
  connections: number;
}
interface ServerInfo {
  id: number;
  state: string;
  allocatedBytes: number | null;
}

test('a new data directory serves a thin, replicated disk named default on 4 servers', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const [disk] = await cluster.json<DiskInfo[]>(['disk', 'list']);
  t.like(disk, {
    name: 'default',
    sizeBytes: 1024 ** 3,
    allocatedBytes: 0,
    replicas: 2,
    health: 'healthy',
    staleBytes: 0,
  });
  const servers = await cluster.json<ServerInfo[]>(['server', 'list']);
  t.deepEqual(
    servers.map((server) => [server.id, server.state]),
    [
      [0, 'up'],
      [1, 'up'],
      [2, 'up'],
      [3, 'up'],
    ],
  );
  const info = JSON.parse((await runOk('nbdinfo', ['--json', cluster.uri()])).stdout);
  t.is(info.exports[0]['export-size'], 1024 ** 3);
  t.true(info.exports[0].can_multi_conn, 'CAN_MULTI_CONN is advertised');
  t.true(fs.existsSync(path.join(cluster.dataDir, 'admin.sock')));
  t.regex(cluster.daemon.logs(), /"msg":"serving"/, 'pino JSON logs');
});

test('disks are created, written, grown, refused deletion while connected, deleted and their space freed', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await cluster.cliOk(['disk', 'create', 'vm1', '--size', '64M', '--replicas', '1']);
  const data = crypto.randomBytes(8 * 1024 * 1024);
  const file = path.join(cluster.dataDir, 'payload');
  fs.writeFileSync(file, data);
  await runOk('nbdcopy', [file, cluster.uri('vm1')]);
  const written = await cluster.json<DiskInfo>(['disk', 'info', 'vm1']);
  t.like(written, { name: 'vm1', sizeBytes: 64 * 1024 * 1024, replicas: 1, allocatedBytes: 8 * 1024 * 1024 });

  await cluster.cliOk(['disk', 'resize', 'vm1', '--size', '128M']);
  const info = JSON.parse((await runOk('nbdinfo', ['--json', cluster.uri('vm1')])).stdout);
  t.is(info.exports[0]['export-size'], 128 * 1024 * 1024, 'a new connection sees the new size');
  const readBack = await runOk('bash', ['-c', `nbdcopy ${cluster.uri('vm1')} - | head -c ${data.length} | sha256sum`]);
  t.is(
    readBack.stdout.split(' ')[0],
    crypto.createHash('sha256').update(data).digest('hex'),
    'the data survives the resize',
  );

  const client = await RawClient.connect(cluster.port);
  await client.go('vm1');
  const refused = await cluster.cli(['disk', 'delete', 'vm1']);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /disk 'vm1' has 1 NBD connection; disconnect them or use --force/);
  client.request(Command.Disc);
  client.destroy();
  await new Promise((resolve) => setTimeout(resolve, 300));

  const before = await cluster.json<ServerInfo[]>(['server', 'list']);
  await cluster.cliOk(['disk', 'delete', 'vm1']);
  const after = await cluster.json<ServerInfo[]>(['server', 'list']);
  const total = (servers: ServerInfo[]) => servers.reduce((sum, server) => sum + (server.allocatedBytes ?? 0), 0);
  t.is(total(before) - total(after), 8 * 1024 * 1024, 'the space is freed');
  t.deepEqual(
    (await cluster.json<DiskInfo[]>(['disk', 'list'])).map((disk) => disk.name),
    ['default'],
  );
  const gone = await run('nbdinfo', [cluster.uri('vm1')]);
  t.not(gone.code, 0, 'the export is gone');
});

const refusals: Array<[string[], RegExp]> = [
  [['disk', 'create', 'default', '--size', '1G'], /a virtual disk named 'default' already exists/],
  [['disk', 'create', 'bad/name', '--size', '1G'], /disk name 'bad\/name'/],
  [['disk', 'create', 'x', '--size', '1001K'], /--size: '1001K' is not a positive multiple of 4 KiB/],
  [['disk', 'create', 'x'], /--size SIZE is required/],
  [['disk', 'create', 'x', '--size', '1G', '--replicas', '3'], /--replicas: '3' is not 1 or 2/],
  [['disk', 'create', 'x', '--size', '1G', '--stripe', '4K'], /stripe 4096 bytes: must be a multiple of 64 KiB/],
  [['disk', 'resize', 'default', '--size', '512M'], /shrinking to 536870912 is not supported/],
  [['disk', 'info', 'nosuch'], /no virtual disk named 'nosuch'/],
  [['disk', 'delete', 'nosuch'], /no virtual disk named 'nosuch'/],
  [['disk', 'frob'], /unknown disk command 'frob'/],
  [['server', 'stop', '9'], /no server 9 \(servers are 0 to 3\)/],
  [['server', 'stop', 'one'], /a server ID \(a whole number\) is required, not 'one'/],
  [['server', 'start', '0'], /server 0 is already running/],
];

test('every admin command checks its input: one clear line, non-zero exit, nothing changed', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  for (const [args, message] of refusals) {
    const result = await cluster.cli(args);
    t.not(result.code, 0, args.join(' '));
    t.regex(result.stderr, message, args.join(' '));
    t.is(result.stderr.trim().split('\n').length, 1, args.join(' '));
  }
  t.deepEqual(
    (await cluster.json<DiskInfo[]>(['disk', 'list'])).map((disk) => [disk.name, disk.sizeBytes]),
    [['default', 1024 ** 3]],
  );
  t.true((await cluster.json<ServerInfo[]>(['server', 'list'])).every((server) => server.state === 'up'));
});

test('the CLI says so when no daemon is running', async (t) => {
  const result = await run(process.execPath, [whorlBin, 'disk', 'list', '--data-dir', '/nonexistent/whorl']);
  t.is(result.code, 1);
  t.regex(result.stderr, /no whorl daemon is running at \/nonexistent\/whorl\/admin.sock/);
});

test('restarting on the same directory brings back every disk and its data', async (t) => {
  const first = await startCluster();
  t.teardown(() => first.stop());
  await first.cliOk(['disk', 'create', 'keep', '--size', '32M']);
  const data = crypto.randomBytes(4 * 1024 * 1024);
  const file = path.join(first.dataDir, 'payload');
  fs.writeFileSync(file, data);
  await runOk('nbdcopy', [file, first.uri('keep')]);
  await first.stop();
  t.is((await first.daemon.exited).code, 0);

  const again = await startCluster({ dataDir: first.dataDir });
  t.teardown(() => again.stop());
  t.deepEqual(
    (await again.json<DiskInfo[]>(['disk', 'list'])).map((disk) => disk.name),
    ['default', 'keep'],
  );
  const readBack = await runOk('bash', ['-c', `nbdcopy ${again.uri('keep')} - | head -c ${data.length} | sha256sum`]);
  t.is(readBack.stdout.split(' ')[0], crypto.createHash('sha256').update(data).digest('hex'));
  const wrongServers = await run(process.execPath, [
    whorlBin,
    'serve',
    '--data-dir',
    first.dataDir,
    '--servers',
    '3',
    '--nbd-listen',
    '127.0.0.1:0',
  ]);
  t.is(wrongServers.code, 1);
  t.regex(wrongServers.stderr, /was created with --servers 4, not 3/);
});
