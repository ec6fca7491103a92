import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { daemonNodeFlags } from '../src/cli/node-flags.js';
import { whorlBin } from './helpers/daemon.js';
import { bootGuest, buildGuest } from './helpers/guest.js';
import { makeHosts, type Hosts } from './helpers/hosts.js';
import { run, runOk } from './helpers/run.js';
import { scratchDirectory } from './helpers/scratch.js';
import { makeCredentials, type TestCredentials } from './helpers/tls-certs.js';

/**
 * A whorl cluster of three nodes and a gateway, each host a network namespace (helpers/hosts.ts),
 * with Debian's etcd on a host of its own. One cluster serves every test in this file, in order.
 */
const hostNames = ['etcd', 'n1', 'n2', 'n3', 'gw'] as const;
type Host = (typeof hostNames)[number];
const peerPort = 7000;

interface Running {
  child: ChildProcess;
  logs: string;
  exited: Promise<number | null>;
}

let hosts: Hosts;
let etcdUrl: string;
/** Every node has --tls-certificates: node links are mutual TLS; NBD on loopback offers TLS. */
let credentials: TestCredentials;
const dataDirs = new Map<Host, string>();
/** The node (or etcd) each host runs now. */
const processes = new Map<Host, Running>();
/** Everything started, for the cleanup. */
const started: Running[] = [];

function start(host: Host, command: string, args: string[], role: 'main' | 'tool' = 'main'): Running {
  const child = hosts.spawn(host, command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const running: Running = {
    child,
    logs: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (running.logs += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (running.logs += text));
  if (role === 'main') processes.set(host, running);
  started.push(running);
  return running;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function nodeArgs(host: Host, extra: string[] = []): string[] {
  const dataDir = dataDirs.get(host) ?? scratchDirectory(`whorl-${host}-`);
  dataDirs.set(host, dataDir);
  return [
    ...daemonNodeFlags,
    whorlBin,
    'serve',
    '--etcd',
    etcdUrl,
    '--node',
    host,
    '--peer-listen',
    `${hosts.address(host)}:${peerPort}`,
    '--nbd-listen',
    '127.0.0.1:10809',
    '--data-dir',
    dataDir,
    '--servers',
    '3',
    '--default-disk-size',
    '256M',
    '--disk-capacity',
    '1G',
    '--threads',
    '1',
    '--log-level',
    'info',
    '--tls-certificates',
    credentials.server,
    ...extra,
  ];
}

async function startNode(host: Host, extra: string[] = []): Promise<Running> {
  const running = start(host, process.execPath, nodeArgs(host, extra));
  await until(`${host} serving`, () => {
    if (running.child.exitCode !== null) throw new Error(`${host} exited: ${running.logs}`);
    return running.logs.includes('"msg":"serving"');
  }).catch((error: Error) => {
    throw new Error(`${error.message}:\n${running.logs.slice(-3000)}`);
  });
  return running;
}

async function kill9(host: Host): Promise<void> {
  const running = processes.get(host)!;
  running.child.kill('SIGKILL');
  await running.exited;
}

const cli = (host: Host, args: string[]) =>
  run(process.execPath, [whorlBin, ...args, '--data-dir', dataDirs.get(host)!], { timeoutMs: 120_000 });

async function servers(host: Host): Promise<Array<{ id: number; node: string; state: string }>> {
  const result = await cli(host, ['server', 'list', '--json']);
  return result.code === 0 ? JSON.parse(result.stdout) : [];
}

async function serverStates(host: Host): Promise<string[]> {
  return (await servers(host)).map((server) => server.state);
}

function fio(host: Host, args: string[]): Promise<{ code: number | null; output: string }> {
  const running = start(
    host,
    'fio',
    [
      '--name=verify',
      '--ioengine=nbd',
      '--uri=nbd://127.0.0.1:10809/default',
      '--bs=4k',
      '--iodepth=8',
      '--verify=crc32c',
      '--verify_fatal=1',
      '--do_verify=1',
      ...args,
    ],
    'tool',
  );
  return running.exited.then((code) => ({ code, output: running.logs }));
}

let etcdDir: string | undefined;

function startEtcd(): void {
  etcdDir ??= scratchDirectory('whorl-etcd-');
  const peer = `http://${hosts.address('etcd')}:2380`;
  start('etcd', 'etcd', [
    '--name=e',
    `--data-dir=${etcdDir}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=e=${peer}`,
    '--log-level=error',
  ]);
}

async function etcdAnswering(): Promise<void> {
  const health = `fetch('${etcdUrl}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  await until('etcd answering', () => {
    try {
      hosts.exec('n1', process.execPath, ['-e', health]);
      return true;
    } catch {
      return false;
    }
  });
}

test.before(async () => {
  hosts = makeHosts(hostNames);
  credentials = makeCredentials(scratchDirectory('whorl-hosts-tls-'));
  etcdUrl = `http://${hosts.address('etcd')}:2379`;
  startEtcd();
  await etcdAnswering();
  await Promise.all((['n1', 'n2', 'n3'] as const).map((host) => startNode(host)));
  await startNode('gw', ['--no-disks']);
  await until('every server up', async () => (await serverStates('gw')).every((state) => state === 'up')).catch(
    async (error: Error) => {
      const logs = [...processes].map(([host, running]) => `${host}:\n${running.logs.slice(-2500)}`).join('\n');
      throw new Error(`${error.message} (${(await serverStates('gw')).join(', ')}):\n${logs}`);
    },
  );
});

test.after.always(async () => {
  for (const running of started) if (running.child.exitCode === null) running.child.kill('SIGKILL');
  await Promise.all(started.map((running) => running.exited));
  hosts?.remove();
});

test.serial(
  'a node killed -9 mid-write: fio through the gateway finishes and verifies; the node returns, resyncs what changed, both copies equal',
  async (t) => {
    // 64 MiB everywhere first, through the gateway.
    const data = Buffer.alloc(64 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i / 4096 + 1, i);
    const file = path.join(scratchDirectory('whorl-hosts-data-'), 'data');
    fs.writeFileSync(file, data);
    hosts.exec('gw', 'nbdcopy', [file, 'nbd://127.0.0.1:10809/default']);
    // A second FLUSH makes the busy bits the first one cleared durable (they clear lazily, Petal's
    // rule): recovery then copies what was written after it, not everything written before.
    hosts.exec('gw', 'qemu-io', ['-f', 'raw', '-c', 'flush', 'nbd://127.0.0.1:10809/default']);
    t.deepEqual(await serverStates('gw'), ['up', 'up', 'up']);
    const listed = await servers('gw');
    t.deepEqual(listed.map((server) => server.node).sort(), ['n1', 'n2', 'n3'], "server list shows each server's node");
    const monitorHost = (['n1', 'n2', 'n3'] as const).find((host) =>
      processes.get(host)!.logs.includes('this node is the monitor'),
    )!;
    const victimHost = (['n1', 'n2', 'n3'] as const).find((host) => host !== monitorHost)!;
    const victim = listed.find((server) => server.node === victimHost)!.id;

    // 16 MiB of random writes with verification; a node (not the monitor) dies 2 s in.
    const writing = fio('gw', ['--rw=randwrite', '--size=16M', '--offset=0']);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const monitorLogsBefore = processes.get(monitorHost)!.logs.length;
    await kill9(victimHost);
    const written = await writing;
    t.is(written.code, 0, written.output);
    t.regex(written.output, /verify/);
    t.is((await serverStates('gw'))[victim], 'down');

    await startNode(victimHost);
    await until('every server up', async () => (await serverStates('gw')).every((state) => state === 'up'));
    const monitor = processes.get(monitorHost)!;
    // Its servers came back as a new incarnation (unflushed writes may be lost): recovery also
    // copies the regions written since the last flush, not only those marked stale.
    t.regex(
      monitor.logs.slice(monitorLogsBefore),
      new RegExp(`"server":${victim},"from":"down","to":"resyncing","why":"new incarnation"`),
    );
    const pattern = new RegExp(`"server":${victim},"from":"resyncing","to":"up".*?"resyncedBytes":(\\d+)`, 'g');
    const last = Number([...monitor.logs.matchAll(pattern)].at(-1)?.[1]);
    t.true(
      last > 0 && last <= 17 * 1024 * 1024,
      `server ${victim} resynced ${last} bytes: what changed, not all 64 MiB`,
    );
    const report = JSON.parse(
      (
        await runOk(process.execPath, [
          whorlBin,
          'disk',
          'verify',
          'default',
          '--json',
          '--data-dir',
          dataDirs.get('gw')!,
        ])
      ).stdout,
    ) as {
      comparedBytes: number;
      differing: unknown[];
    };
    t.deepEqual(report.differing, []);
    t.true(report.comparedBytes >= data.length);
    // Every node reads the same bytes (the first block fio did not overwrite keeps its stamp).
    const back = path.join(path.dirname(file), 'back');
    hosts.exec('n3', 'nbdcopy', ['nbd://127.0.0.1:10809/default', back]);
    t.true(
      fs
        .readFileSync(back)
        .subarray(32 * 1024 * 1024, 64 * 1024 * 1024)
        .equals(data.subarray(32 * 1024 * 1024)),
    );
  },
);

/** The node running the control actor now (the newest to say so in its log). */
function monitorNow(): Host {
  const said = (['n1', 'n2', 'n3'] as const)
    .filter((host) => processes.get(host)!.child.exitCode === null)
    .map((host) => {
      const logs = processes.get(host)!.logs;
      const at = logs.lastIndexOf('this node is the monitor');
      const time = at < 0 ? 0 : Number(/"time":(\d+)/.exec(logs.slice(logs.lastIndexOf('\n', at)))?.[1] ?? 0);
      return { host, time };
    })
    .filter((entry) => entry.time > 0)
    .sort((a, b) => b.time - a.time);
  return said[0]!.host;
}

function notMonitor(): Host {
  const monitor = monitorNow();
  return (['n1', 'n2', 'n3'] as const).find((host) => host !== monitor)!;
}

async function allUp(): Promise<void> {
  await until('every server up', async () => (await serverStates('gw')).every((state) => state === 'up'));
}

async function bothCopiesEqual(t: import('ava').ExecutionContext): Promise<void> {
  const verified = await cli('gw', ['disk', 'verify', 'default', '--json']);
  t.is(verified.code, 0, verified.stderr);
  t.deepEqual((JSON.parse(verified.stdout) as { differing: unknown[] }).differing, []);
}

/** `host` starts again, every server comes up, and both copies of the disk are equal. */
async function rejoin(t: import('ava').ExecutionContext, host: Host): Promise<void> {
  await startNode(host);
  await allUp();
  await bothCopiesEqual(t);
}

/** fio --verify through the gateway while `fault` runs 2 s in; it must finish with no error. */
async function fioThrough(t: import('ava').ExecutionContext, fault: () => Promise<void>): Promise<void> {
  const writing = fio('gw', ['--rw=randwrite', '--size=16M', '--offset=16M', '--runtime=100']);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await fault();
  const written = await writing;
  const notable = (logs: string) =>
    logs
      .split('\n')
      .filter((line) => /"level":[45]0|server state|replica group|monitor|lease/.test(line))
      .map((line) => line.slice(0, 300))
      .slice(-40)
      .join('\n');
  const nodes = [...processes].map(([host, running]) => `${host}:\n${notable(running.logs)}`).join('\n');
  t.is(written.code, 0, `${written.output}\n${nodes}`);
}

test.serial(
  'the monitor node killed -9 mid-write: another node takes the control actor, fio finishes and verifies',
  async (t) => {
    const monitor = monitorNow();
    await fioThrough(t, () => kill9(monitor));
    const successor = monitorNow();
    t.not(successor, monitor, 'another node runs the control actor');
    await rejoin(t, monitor);
  },
);

test.serial(
  'a node paused (SIGSTOP) past its lease: its groups move, and when it resumes it lets go and exits; nothing it held back lands',
  async (t) => {
    const victim = notMonitor();
    const paused = processes.get(victim)!;
    await fioThrough(t, async () => {
      paused.child.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 9_000));
      paused.child.kill('SIGCONT');
    });
    t.is(await paused.exited, 1, 'it exits once etcd says its lease is gone');
    t.regex(paused.logs, /this node no longer holds its lease/);
    t.regex(paused.logs, /exiting at once: this node may no longer act for the cluster/);
    await rejoin(t, victim);
  },
);

test.serial(
  'a node cut off from etcd only: it stops coordinating, its peers take over, the cluster serves',
  async (t) => {
    const victim = notMonitor();
    const cut = processes.get(victim)!;
    await fioThrough(t, async () => {
      hosts.cut(victim, 'etcd');
      await until(`${victim} lets go`, () => cut.logs.includes('this node no longer holds its lease'), 15_000);
      // Past the lease's TTL: etcd drops its key and the peers take its groups over.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      hosts.heal(victim, 'etcd');
    });
    const code = await Promise.race([
      cut.exited,
      new Promise((resolve) => setTimeout(() => resolve('running'), 20_000)),
    ]);
    if (code !== 1) cut.child.kill('SIGKILL');
    await cut.exited;
    t.is(code, 1, `back in touch, etcd says its lease is gone: it exits (${victim}: ${cut.logs.slice(-2000)})`);
    await rejoin(t, victim);
  },
);

/** Cuts `victim` off from every other whorl host (etcd stays reachable) for `ms`, then heals. */
async function cutFromPeers(victim: Host, ms: number): Promise<void> {
  const others = (['n1', 'n2', 'n3', 'gw'] as const).filter((host) => host !== victim);
  for (const other of others) hosts.cut(victim, other);
  try {
    const cut = processes.get(victim)!;
    await until(`${victim} stands down`, () => cut.logs.includes('it stops coordinating'), 15_000);
    await new Promise((resolve) => setTimeout(resolve, ms));
  } finally {
    for (const other of others) hosts.heal(victim, other);
  }
}

for (const role of ['a node', 'the monitor node'] as const) {
  test.serial(
    `${role} cut off from its peers only (etcd reachable): it stands down, its groups move, the cluster serves; healed, it takes them back`,
    async (t) => {
      const victim = role === 'a node' ? notMonitor() : monitorNow();
      const cut = processes.get(victim)!;
      const logsBefore = cut.logs.length;
      const gateway = processes.get('gw')!;
      const gatewayBefore = gateway.logs.length;
      await fioThrough(t, () => cutFromPeers(victim, 8_000));
      await until(`${victim} coordinates again`, () =>
        cut.logs.slice(logsBefore).includes('peers again: it coordinates'),
      );
      // The gateway redials with backoff: disk verify reads every copy through it.
      const relinked = new RegExp(`"peer":"${victim}","msg":"peer link up"`);
      await until(`the gateway reaches ${victim}`, () => relinked.test(gateway.logs.slice(gatewayBefore)));
      t.is(cut.child.exitCode, null, 'it kept its lease and kept running');
      if (role === 'the monitor node') t.not(monitorNow(), victim, 'another node took the control actor');
      await allUp();
      await bothCopiesEqual(t);
    },
  );
}

test.serial('etcd restarted during I/O: no client error', async (t) => {
  const etcdProcess = processes.get('etcd')!;
  await fioThrough(t, async () => {
    etcdProcess.child.kill('SIGTERM');
    await etcdProcess.exited;
    startEtcd();
    await etcdAnswering();
  });
  await allUp();
  await bothCopiesEqual(t);
});

test.serial(
  'the kernel client in a qemu guest attached through a node: ext4 through another node killed mid-write, no I/O error, e2fsck clean',
  async (t) => {
    t.timeout(300_000);
    await buildGuest();
    const victim = notMonitor();
    // The guest runs in the gateway's namespace: its user-mode network reaches that namespace's
    // loopback (10.0.2.2), where the gateway node serves NBD.
    const console = await bootGuest(
      10809,
      1,
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await kill9(victim);
      },
      'write',
      (command, args, options) => hosts.spawn('gw', command, args, options),
    );
    const verdict = /WHORL-VERDICT: (PASS|FAIL)[^\r\n]*/.exec(console)?.[0];
    t.is(verdict, 'WHORL-VERDICT: PASS conns=1 files=9', console.slice(-3000));
    t.notRegex(console, /I\/O error|blk_update_request|EXT4-fs error/, 'no I/O error in the guest kernel log');
    await rejoin(t, victim);
  },
);

test.serial(
  'a second process with a taken node name, a bad --etcd URL, an etcd nobody runs: one-line errors, exit code 2',
  async (t) => {
    const twiceArgs = nodeArgs('n1').map((arg) => {
      if (arg === dataDirs.get('n1')) return scratchDirectory('whorl-twice-');
      return arg === `${hosts.address('n1')}:${peerPort}` ? `${hosts.address('gw')}:${peerPort + 1}` : arg;
    });
    const twice = start('gw', process.execPath, twiceArgs, 'tool');
    t.is(await twice.exited, 2);
    t.regex(twice.logs, /whorl: node name n1 is taken: another whorl process is running as it/);
    const bad = await run(process.execPath, [
      whorlBin,
      'serve',
      '--etcd',
      'etcd:2379',
      '--node',
      'x',
      '--peer-listen',
      '127.0.0.1:7000',
    ]);
    t.is(bad.code, 2);
    t.regex(bad.stderr, /--etcd "etcd:2379" is not a URL|--etcd etcd:2379/);
    const nobody = start(
      'gw',
      process.execPath,
      [
        whorlBin,
        'serve',
        '--etcd',
        `http://${hosts.address('gw')}:2999`,
        '--node',
        'x',
        '--peer-listen',
        '127.0.0.1:7001',
        '--data-dir',
        scratchDirectory('whorl-nobody-'),
      ],
      'tool',
    );
    t.is(await nobody.exited, 2);
    t.regex(
      nobody.logs,
      new RegExp(`whorl: etcd at http://${hosts.address('gw').replaceAll('.', '\\.')}:2999 is unreachable`),
    );
  },
);
