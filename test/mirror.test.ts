import test from 'ava';
import { duplicationProtocols } from '../src/model/catalog.js';
import { Prng } from '../src/prng.js';
import { BlockJournal } from './helpers/block-journal.js';
import { checkJournal } from './helpers/check-journal.js';
import { clusterDirectory, startCluster, type ClusterUnderTest } from './helpers/cluster.js';
import { RawClient } from './helpers/raw-client.js';
import { run } from './helpers/run.js';

interface DiskInfo {
  name: string;
  layout: string;
  mirror: {
    groupServers: number;
    protocol: string;
    driver: string;
    sync: boolean;
    lagBytes: number;
    lagBytesMax: number;
    answeredEarly: number;
  } | null;
  connections: number;
}

/** fio's nbd engine with verification: every block written is read back and checked. */
async function fioVerify(
  cluster: ClusterUnderTest,
  disk: string,
  sizeBytes: string,
  extra: string[] = [],
): Promise<string> {
  const args = [
    '--name=verify',
    '--ioengine=nbd',
    `--uri=${cluster.uri(disk)}`,
    '--rw=randwrite',
    '--bsrange=4k-64k',
    '--iodepth=16',
    `--size=${sizeBytes}`,
  ];
  const result = await run(
    'fio',
    [...args, '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--end_fsync=1', ...extra],
    { timeoutMs: 300_000 },
  );
  if (result.code !== 0 || !/err= 0/.test(result.stdout))
    throw new Error(`fio on ${disk} failed (${result.code}):\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

async function verifyCopies(cluster: ClusterUnderTest, disk: string): Promise<string> {
  const verified = await cluster.cli(['disk', 'verify', disk]);
  if (verified.code !== 0) throw new Error(`disk verify ${disk}: ${verified.stdout}${verified.stderr}`);
  return verified.stdout;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('each duplication protocol: fio --verify passes, both mirror copies are equal, disk info names the protocol', async (t) => {
  t.timeout(8 * 60_000);
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  for (const protocol of duplicationProtocols) {
    const disk = `m-${protocol}`;
    await cluster.cliOk(['disk', 'create', disk, '--size', '256M', '--layout', 'mirror', '--protocol', protocol]);
    const info = await cluster.json<DiskInfo>(['disk', 'info', disk]);
    t.is(info.layout, 'mirror');
    t.like(info.mirror, { groupServers: 2, protocol });
    await fioVerify(cluster, disk, '48M');
    t.regex(await verifyCopies(cluster, disk), /; 0 blocks differ/, protocol);
    // The async protocols answer writes before the second copy has them; the sync ones never do.
    const { mirror } = await cluster.json<DiskInfo>(['disk', 'info', disk]);
    t.is(mirror!.lagBytesMax, 1024 * 1024);
    if (protocol.endsWith('-async')) t.true(mirror!.answeredEarly > 0, `${protocol}: no write was answered early`);
    else t.is(mirror!.answeredEarly, 0, protocol);
  }
  const listed = (await cluster.cliOk(['disk', 'list'])).stdout;
  t.regex(listed, /m-hybrid .* mirror\/hybrid\(server-sync\)/);
  t.regex(listed, /m-client-async .* mirror\/client-async lag [0-9.]+[KM]?\/1M/);
  t.regex(listed, /default .* chained/);
});

for (const [protocol, stopped] of [
  ['server-async', 0],
  ['server-sync', 0],
  ['client-async', 2],
  ['client-sync', 2],
] as const) {
  test(`${protocol}: losing ${stopped === 0 ? 'a primary' : 'a backup'} server during writes — no I/O error, the mirror serves alone, resync makes the copies equal`, async (t) => {
    t.timeout(6 * 60_000);
    const cluster = await startCluster();
    t.teardown(() => cluster.stop());
    await cluster.cliOk(['disk', 'create', 'm', '--size', '512M', '--layout', 'mirror', '--protocol', protocol]);
    const writing = fioVerify(cluster, 'm', '96M', ['--bsrange=4k-256k']);
    await sleep(700);
    await cluster.cliOk(['server', 'stop', String(stopped)]);
    await writing;
    t.regex((await cluster.cliOk(['disk', 'info', 'm'])).stdout, /degraded/);
    await cluster.cliOk(['server', 'start', String(stopped)]);
    await cluster.waitUntilUp(120_000);
    t.regex(await verifyCopies(cluster, 'm'), /; 0 blocks differ/);
  });
}

test('disk set switches the protocol online, under a verifying writer; hybrid drives from the front end when connections outnumber a mirror group', async (t) => {
  t.timeout(5 * 60_000);
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await cluster.cliOk([
    'disk',
    'create',
    'm',
    '--size',
    '256M',
    '--layout',
    'mirror',
    '--groups',
    '1',
    '--protocol',
    'server-sync',
  ]);
  let switching = true;
  const switches: string[] = [];
  const switcher = (async () => {
    for (let i = 0; switching; i++) {
      const protocol = duplicationProtocols[i % duplicationProtocols.length]!;
      await cluster.cliOk(['disk', 'set', 'm', '--protocol', protocol]);
      switches.push(protocol);
      await sleep(150);
    }
  })();
  // The writer keeps going, one verified fio run after another, until every protocol has been
  // switched to at least once while it ran: how many switches fit in one run depends on the machine.
  let switcherFailed = false;
  switcher.catch(() => {
    switcherFailed = true;
  });
  let runs = 0;
  while (!switcherFailed && (runs === 0 || switches.length <= duplicationProtocols.length)) {
    await fioVerify(cluster, 'm', '32M');
    runs += 1;
  }
  switching = false;
  await switcher;
  t.log(`${switches.length} switches over ${runs} fio runs: ${switches.join(', ')}`);
  t.regex(await verifyCopies(cluster, 'm'), /; 0 blocks differ/);

  // One server per mirror group (--groups 1): two connections outnumber it.
  await cluster.cliOk(['disk', 'set', 'm', '--protocol', 'hybrid']);
  t.like((await cluster.json<DiskInfo>(['disk', 'info', 'm'])).mirror, {
    protocol: 'hybrid',
    driver: 'server',
    sync: true,
  });
  const clients = await Promise.all([RawClient.connect(cluster.port), RawClient.connect(cluster.port)]);
  for (const client of clients) await client.go('m');
  const busy = await cluster.json<DiskInfo>(['disk', 'info', 'm']);
  t.is(busy.connections, 2);
  t.like(busy.mirror, { protocol: 'hybrid', driver: 'client', sync: true });
  for (const client of clients) client.destroy();
  for (let i = 0; i < 50 && (await cluster.json<DiskInfo>(['disk', 'info', 'm'])).connections > 0; i++)
    await sleep(100);
  t.like((await cluster.json<DiskInfo>(['disk', 'info', 'm'])).mirror, { driver: 'server' });
});

test('mirror layout bad input: each a one-line error naming the value, non-zero exit, nothing changed', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await cluster.cliOk(['disk', 'create', 'm', '--size', '64M', '--layout', 'mirror', '--protocol', 'client-async']);
  const before = (await cluster.cliOk(['disk', 'list', '--json'])).stdout;
  const cases: Array<[string[], RegExp]> = [
    [['disk', 'create', 'x', '--size', '64M', '--layout', 'mirror'], /--layout mirror needs --protocol/],
    [
      ['disk', 'create', 'x', '--size', '64M', '--layout', 'mirror', '--protocol', 'fastest'],
      /protocol 'fastest': must be one of server-sync, server-async, client-sync, client-async, hybrid/,
    ],
    [
      ['disk', 'create', 'x', '--size', '64M', '--layout', 'mirror', '--groups', '3', '--protocol', 'hybrid'],
      /mirror groups of 3 servers: must be 1 to 2/,
    ],
    [
      ['disk', 'create', 'x', '--size', '64M', '--layout', 'mirror', '--groups', 'two', '--protocol', 'hybrid'],
      /--groups: 'two' is not auto or a number/,
    ],
    [['disk', 'create', 'x', '--size', '64M', '--layout', 'raid5'], /--layout: 'raid5' is not chained or mirror/],
    [
      ['disk', 'create', 'x', '--size', '64M', '--protocol', 'client-sync'],
      /--protocol applies to --layout mirror only/,
    ],
    [
      ['disk', 'create', 'x', '--size', '64M', '--layout', 'mirror', '--replicas', '1', '--protocol', 'hybrid'],
      /--layout mirror keeps two copies; replicas 1/,
    ],
    [['disk', 'set', 'default', '--protocol', 'hybrid'], /disk 'default' uses chained declustering/],
    [['disk', 'set', 'm', '--protocol', 'sometimes'], /protocol 'sometimes': must be one of/],
    [['disk', 'set', 'm'], /--protocol P is required/],
    [['disk', 'set', 'nope', '--protocol', 'hybrid'], /no virtual disk named 'nope'/],
  ];
  for (const [args, message] of cases) {
    const result = await cluster.cli(args);
    t.not(result.code, 0, args.join(' '));
    t.regex(result.stderr, message, args.join(' '));
    t.is(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  }
  t.is((await cluster.cliOk(['disk', 'list', '--json'])).stdout, before);
});

for (const protocol of ['client-async', 'server-async'] as const) {
  test(`${protocol}: kill -9 during writes with FLUSH and FUA; every flushed block survives, then the loss of either mirror`, async (t) => {
    t.timeout(6 * 60_000);
    const blocks = 2048;
    const generator = new Prng(7);
    const random = (): number => generator.next();
    const dataDir = clusterDirectory();
    const journal = new BlockJournal(blocks);
    for (let round = 0; round < 4; round++) {
      const cluster = await startCluster({ dataDir });
      t.teardown(() => cluster.stop());
      if (round === 0)
        await cluster.cliOk(['disk', 'create', 'm', '--size', '64M', '--layout', 'mirror', '--protocol', protocol]);
      t.deepEqual((await checkJournal(cluster, journal, blocks, 'm')).slice(0, 5), [], `round ${round}`);
      const client = await RawClient.connect(cluster.port);
      await client.go('m');
      const streamed = await journal.streamUntilKilled(client, {
        flushEvery: 16,
        window: 16,
        random,
        spreadMs: 700,
        kill: () => cluster.kill9(),
      });
      t.log(`round ${round}: ${streamed.writes} requests sent, ${streamed.flushes} flushes answered`);
    }
    const cluster = await startCluster({ dataDir });
    t.teardown(() => cluster.stop());
    t.deepEqual((await checkJournal(cluster, journal, blocks, 'm')).slice(0, 5), []);
    t.regex(await verifyCopies(cluster, 'm'), /; 0 blocks differ/);
    // Each mirror alone holds every flushed block.
    for (const [stop, start] of [
      [0, undefined],
      [2, 0],
      [1, 2],
      [3, 1],
    ] as const) {
      if (start !== undefined) {
        await cluster.cliOk(['server', 'start', String(start)]);
        await cluster.waitUntilUp(120_000);
      }
      await cluster.cliOk(['server', 'stop', String(stop)]);
      t.deepEqual((await checkJournal(cluster, journal, blocks, 'm')).slice(0, 5), [], `server ${stop} stopped`);
    }
  });
}

test('both copies of a mirror pair resyncing at once: a read of it waits until one is up, then succeeds (no I/O error)', async (t) => {
  t.timeout(4 * 60_000);
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  await cluster.cliOk(['disk', 'create', 'm', '--size', '64M', '--layout', 'mirror', '--protocol', 'client-sync']);
  const io = (...commands: string[]) =>
    run('qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), cluster.uri('m')]);
  t.is((await io('write -P 0x11 0 64k', 'flush')).code, 0);
  // Unit 0 lives on servers 0 and 2 (the primary group's server 0 and its mirror). Back from a
  // stop, server 0 is resyncing, and stays so while its mirror is stopped (recovery needs both):
  // no copy of unit 0 is readable, as after heartbeats missed on a loaded machine.
  await cluster.cliOk(['server', 'stop', '0']);
  await cluster.cliOk(['server', 'stop', '2']);
  await cluster.cliOk(['server', 'start', '0']);
  const reading = io('read -P 0x11 0 64k');
  await sleep(1500);
  await cluster.cliOk(['server', 'start', '2']);
  const read = await reading;
  t.is(read.code, 0, read.stdout + read.stderr);
  t.notRegex(read.stdout, /Pattern verification failed/);
  t.is((await io('write -P 0x22 64k 64k')).code, 0, 'writes go on');
});
