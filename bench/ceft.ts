import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminRequest } from '../src/admin/admin-client.js';
import { duplicationProtocols } from '../src/model/catalog.js';
import { waitForPort } from './nbd.js';
import { arg } from './args.js';
import { daemonNodeFlags } from '../src/cli/node-flags.js';

/**
 * `npm run bench -- ceft [--runtime=S] [--clients=1,2,4,8,16]`: the shape of CEFT-PVFS Table II.
 * For each duplication protocol of a mirror disk, and for a disk with `--replicas 1` (no
 * mirroring), the aggregate sequential write throughput of N concurrent fio jobs, each its own NBD
 * connection writing its own 64 MiB stretch in 1 MiB requests (qd4); then each disk's mean latency
 * of 64 KiB writes from one connection at qd1, where an early answer shows. One daemon serves every
 * disk; each figure is a fresh fio run against it.
 */
const whorlBin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const stretchBytes = 64 * 2 ** 20;

interface FioWrite {
  readonly bw_bytes: number;
  readonly lat_ns: { readonly mean: number };
}

/** fio's write figures for `clients` jobs, each its own connection, on disjoint stretches of `disk`. */
async function fioWrite(
  port: number,
  disk: string,
  clients: number,
  runtimeS: number,
  bs: string,
  iodepth: number,
): Promise<FioWrite> {
  const args = [
    '--name=ceft',
    '--ioengine=nbd',
    `--uri=nbd://127.0.0.1:${port}/${disk}`,
    '--rw=write',
    `--bs=${bs}`,
    `--iodepth=${iodepth}`,
    `--numjobs=${clients}`,
    `--size=${stretchBytes}`,
    `--offset_increment=${stretchBytes}`,
    '--time_based',
    `--runtime=${runtimeS}`,
    '--group_reporting',
    '--output-format=json',
  ];
  const child = spawn('fio', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`fio on ${disk} with ${clients} clients exited ${code}`);
  return JSON.parse(output.slice(output.indexOf('{'))).jobs[0].write as FioWrite;
}

/** MiB/s written by `clients` connections, 1 MiB requests at qd4 (Table II's saturating load). */
async function aggregateWrite(port: number, disk: string, clients: number, runtimeS: number): Promise<number> {
  return (await fioWrite(port, disk, clients, runtimeS, '1m', 4)).bw_bytes / 2 ** 20;
}

/** Mean µs per 64 KiB write from one connection at qd1: what answering with one copy saves. */
async function writeLatency(port: number, disk: string, runtimeS: number): Promise<number> {
  return (await fioWrite(port, disk, 1, runtimeS, '64k', 1)).lat_ns.mean / 1000;
}

export async function benchCeft(args: string[]): Promise<void> {
  const runtimeS = Number(arg(args, 'runtime', '5'));
  const clientCounts = arg(args, 'clients', '1,2,4,8,16').split(',').map(Number);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-ceft-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const dataDir = path.join(work, 'whorl');
  const daemon = spawn(
    process.execPath,
    [
      ...daemonNodeFlags,
      whorlBin,
      'serve',
      '--data-dir',
      dataDir,
      '--nbd-listen',
      `127.0.0.1:${port}`,
      '--disk-capacity',
      '16G',
      '--log-level',
      'warn',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitForPort(port);
    const socket = path.join(dataDir, 'admin.sock');
    const sizeBytes = Math.max(...clientCounts) * stretchBytes;
    const disks: Array<{ label: string; name: string }> = [{ label: '--replicas 1', name: 'unmirrored' }];
    await adminRequest(socket, {
      command: 'disk.create',
      name: 'unmirrored',
      sizeBytes,
      replicas: 1,
      stripeBytes: 65536,
    });
    for (const protocol of duplicationProtocols) {
      await adminRequest(socket, {
        command: 'disk.create',
        name: `m-${protocol}`,
        sizeBytes,
        replicas: 2,
        stripeBytes: 65536,
        mirror: 'auto',
        protocol,
      });
      disks.push({ label: protocol, name: `m-${protocol}` });
    }
    console.log(
      `fio nbd engine, sequential 1 MiB writes qd4, one connection per client, ${runtimeS}s per run; MiB/s aggregate (× the --replicas 1 disk)`,
    );
    const table = new Map<string, number[]>();
    for (const clients of clientCounts) {
      for (const { label, name } of disks) {
        table.set(label, [...(table.get(label) ?? []), await aggregateWrite(port, name, clients, runtimeS)]);
      }
    }
    const base = table.get('--replicas 1')!;
    console.log('');
    console.log(`| disk | ${clientCounts.map((n) => `${n} client${n === 1 ? '' : 's'}`).join(' | ')} |`);
    console.log(`|---|${clientCounts.map(() => '---').join('|')}|`);
    for (const [label, figures] of table) {
      const cells = figures.map((value, i) =>
        label === '--replicas 1' ? `${value.toFixed(0)}` : `${value.toFixed(0)} (${(value / base[i]!).toFixed(2)}×)`,
      );
      console.log(`| ${label} | ${cells.join(' | ')} |`);
    }
    console.log('');
    console.log('one connection, sequential 64 KiB writes at qd1: mean latency µs (× the --replicas 1 disk)');
    const latencies: Array<[string, number]> = [];
    for (const { label, name } of disks) latencies.push([label, await writeLatency(port, name, runtimeS)]);
    const baseLatency = latencies[0]![1];
    console.log('');
    console.log('| disk | mean µs |');
    console.log('|---|---|');
    for (const [label, micros] of latencies)
      console.log(
        `| ${label} | ${micros.toFixed(0)}${label === '--replicas 1' ? '' : ` (${(micros / baseLatency).toFixed(2)}×)`} |`,
      );
  } finally {
    daemon.kill('SIGTERM');
    await once(daemon, 'exit');
    fs.rmSync(work, { recursive: true, force: true });
  }
}
