import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCredentials } from '../test/helpers/tls-certs.js';
import { arg } from './args.js';

/**
 * `npm run bench -- nbd [--tls]`: fio's nbd engine against whorl's memory backend and `nbdkit
 * memory`, the same workloads in the same run, interleaved so that machine noise hits both alike.
 * `--tls`: both serve `--tls require` with the same X.509 credentials and fio connects over
 * nbds:// (as user nobody, whose libnbd finds its client certificate in $HOME/.pki/libnbd).
 */
export interface Workload {
  readonly name: string;
  readonly rw: string;
  readonly bs: string;
  readonly iodepth: number;
}

export const workloads: Workload[] = [
  { name: '4k randread qd16', rw: 'randread', bs: '4k', iodepth: 16 },
  { name: '4k randwrite qd16', rw: 'randwrite', bs: '4k', iodepth: 16 },
  { name: '1m read qd8', rw: 'read', bs: '1m', iodepth: 8 },
  { name: '1m write qd8', rw: 'write', bs: '1m', iodepth: 8 },
];

const whorlBin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
export const regionSize = '512M';

interface Peer {
  readonly name: string;
  readonly start: (port: number, tlsDir?: string) => ChildProcess;
}

const peers: Peer[] = [
  {
    name: 'whorl',
    start: (port, tlsDir) =>
      spawn(
        process.execPath,
        [
          whorlBin,
          'serve',
          '--backend',
          'memory',
          '--nbd-listen',
          `127.0.0.1:${port}`,
          '--size',
          '1G',
          '--log-level',
          'warn',
          ...(tlsDir ? ['--tls', 'require', '--tls-certificates', tlsDir] : []),
        ],
        { stdio: 'ignore' },
      ),
  },
  {
    name: 'nbdkit',
    start: (port, tlsDir) =>
      spawn(
        'nbdkit',
        [
          '-f',
          '-i',
          '127.0.0.1',
          '-p',
          String(port),
          ...(tlsDir ? ['--tls=require', `--tls-certificates=${tlsDir}`] : []),
          'memory',
          '1G',
        ],
        { stdio: 'ignore' },
      ),
  },
];

/** Whose fio runs over TLS: user nobody with a home holding libnbd's client credentials. */
let fioHome: string | undefined;

function tlsSetup(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-tls-'));
  fs.chmodSync(root, 0o755);
  const credentials = makeCredentials(root);
  const pki = path.join(root, 'home', '.pki', 'libnbd');
  fs.mkdirSync(pki, { recursive: true });
  for (const file of fs.readdirSync(credentials.client)) {
    fs.copyFileSync(path.join(credentials.client, file), path.join(pki, file));
    fs.chmodSync(path.join(pki, file), 0o644);
  }
  for (const dir of ['home', 'home/.pki', 'home/.pki/libnbd']) fs.chmodSync(path.join(root, dir), 0o755);
  fioHome = path.join(root, 'home');
  return credentials.server;
}

export async function benchNbd(args: string[]): Promise<void> {
  const runtimeS = Number(arg(args, 'runtime', '10'));
  const rounds = Number(arg(args, 'rounds', '2'));
  const tlsDir = args.includes('--tls') ? tlsSetup() : undefined;
  console.log(
    `fio nbd engine, ${runtimeS}s per job, ${rounds} rounds (best of), region ${regionSize}${tlsDir ? ', TLS (X.509) on both' : ''}`,
  );
  const results = new Map<string, Map<string, number[]>>();
  let port = 20000 + Math.floor(Math.random() * 20000);
  for (const peer of peers) results.set(peer.name, new Map(workloads.map((w) => [w.name, []])));
  for (let round = 0; round < rounds; round++) {
    for (const peer of round % 2 === 0 ? peers : [...peers].reverse()) {
      port += 1;
      const child = peer.start(port, tlsDir);
      try {
        await waitForPort(port);
        await fio(port, { name: 'prefill', rw: 'write', bs: '1m', iodepth: 8 }, 0);
        for (const workload of workloads)
          results
            .get(peer.name)!
            .get(workload.name)!
            .push(await fio(port, workload, runtimeS));
      } finally {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  }
  printTable(results);
}

export interface FioResult {
  /** IOPS for 4 KiB workloads, MiB/s otherwise. */
  readonly value: number;
  readonly writtenBytes: number;
  /** Completion latency of the measured side: 99th percentile and maximum, in ms. */
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Bytes read and written by the job. */
  readonly movedBytes: number;
}

/** Runs one fio job with the nbd engine against `nbd://127.0.0.1:PORT/EXPORT`. */
export async function runFio(
  port: number,
  exportName: string,
  workload: Workload,
  runtimeS: number,
  extra: string[] = [],
): Promise<FioResult> {
  const args = [
    '--name=bench',
    '--ioengine=nbd',
    `--uri=${fioHome ? 'nbds' : 'nbd'}://127.0.0.1:${port}/${exportName}`,
    `--rw=${workload.rw}`,
    `--bs=${workload.bs}`,
    `--iodepth=${workload.iodepth}`,
    `--size=${regionSize}`,
    '--output-format=json',
    '--group_reporting',
    ...extra,
  ];
  if (runtimeS > 0) args.push('--time_based', `--runtime=${runtimeS}`);
  const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${fioHome}`, 'fio'];
  const child = fioHome
    ? spawn('setpriv', [...nobody, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn('fio', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`fio ${workload.name} exited ${code}`);
  const job = JSON.parse(output.slice(output.indexOf('{'))).jobs[0];
  const side = workload.rw.includes('read') ? job.read : job.write;
  return {
    value: workload.bs === '4k' ? side.iops : side.bw_bytes / 2 ** 20,
    writtenBytes: job.write.io_bytes,
    movedBytes: job.read.io_bytes + job.write.io_bytes,
    p99Ms: (side.clat_ns?.percentile?.['99.000000'] ?? 0) / 1e6,
    maxMs: (side.clat_ns?.max ?? 0) / 1e6,
  };
}

async function fio(port: number, workload: Workload, runtimeS: number): Promise<number> {
  return (await runFio(port, '', workload, runtimeS)).value;
}

function printTable(results: Map<string, Map<string, number[]>>): void {
  console.log('');
  console.log('| workload | whorl | nbdkit | whorl / nbdkit |');
  console.log('|---|---|---|---|');
  for (const workload of workloads) {
    const best = (peer: string): number => Math.max(...results.get(peer)!.get(workload.name)!);
    const unit = workload.bs === '4k' ? 'IOPS' : 'MiB/s';
    const whorl = best('whorl');
    const nbdkit = best('nbdkit');
    console.log(
      `| ${workload.name} | ${whorl.toFixed(0)} ${unit} | ${nbdkit.toFixed(0)} ${unit} | ${(whorl / nbdkit).toFixed(2)}× |`,
    );
  }
}

export async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listening on port ${port}`);
}
