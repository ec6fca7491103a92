import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFio, waitForPort, workloads, type Workload } from './nbd.js';
import { cpuSeconds, settle } from './cluster.js';
import { arg } from './args.js';
import { daemonNodeFlags } from '../src/cli/node-flags.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { freePort } from '../test/helpers/ports.js';

/**
 * `npm run bench -- hosts [--runtime=S] [--rounds=N] [--single-threads=N] [--node-threads=N]`:
 * the same fio jobs against a cluster of three nodes (each one process with one disk, over etcd and
 * node links, on this machine's loopback) and against the single-host default with three servers,
 * each side on fresh directories in every round, the sides alternating which goes first; each
 * side's own `--threads` default unless given. Reports the best round of each side: throughput
 * ratios, the CPU per 4 KiB moved (every whorl process, etcd apart) and queue-depth-1 write
 * latency. Both have 2 replicas on 3 servers; the machine's cores serve every node at once, so
 * this measures the network path's overhead, not scale-out.
 */
const whorlBin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const common = ['--default-disk-size', '2G', '--disk-capacity', '16G', '--servers', '3', '--log-level', 'warn'];
const qd1: Workload = { name: '4k randwrite qd1', rw: 'randwrite', bs: '4k', iodepth: 1 };

function whorl(args: string[]): ChildProcess {
  return spawn(process.execPath, [...daemonNodeFlags, whorlBin, 'serve', ...args, ...common], { stdio: 'ignore' });
}

async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
}

interface Figures {
  value: Map<string, number>;
  cpuUs: Map<string, number>;
  qd1Ms: number;
}

async function measure(pids: readonly number[], port: number, runtimeS: number): Promise<Figures> {
  const figures: Figures = { value: new Map(), cpuUs: new Map(), qd1Ms: 0 };
  // Written once through first, so reads find data (a thin disk reads holes from memory).
  await runFio(port, 'default', workloads[3]!, 0);
  for (const workload of workloads) {
    await settle();
    const before = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const result = await runFio(port, 'default', workload, runtimeS);
    const cpu = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - before;
    figures.value.set(workload.name, result.value);
    figures.cpuUs.set(workload.name, (cpu * 1e6) / (result.movedBytes / 4096));
  }
  await settle();
  const latency = await runFio(port, 'default', qd1, runtimeS);
  figures.qd1Ms = 1000 / latency.value;
  return figures;
}

/** The better of two measurements of one side: each job's best rate, its CPU from that run; the lower latency. */
function best(a: Figures | undefined, b: Figures): Figures {
  if (!a) return b;
  const figures: Figures = { value: new Map(), cpuUs: new Map(), qd1Ms: Math.min(a.qd1Ms, b.qd1Ms) };
  for (const workload of workloads) {
    const from = a.value.get(workload.name)! >= b.value.get(workload.name)! ? a : b;
    figures.value.set(workload.name, from.value.get(workload.name)!);
    figures.cpuUs.set(workload.name, from.cpuUs.get(workload.name)!);
  }
  return figures;
}

/** The single host: one process, three servers, on a fresh directory. */
async function measureSingle(root: string, threads: string[], runtimeS: number): Promise<Figures> {
  const port = await freePort();
  const single = whorl([
    '--data-dir',
    fs.mkdtempSync(path.join(root, 'single-')),
    '--nbd-listen',
    `127.0.0.1:${port}`,
    ...threads,
  ]);
  try {
    await waitForPort(port);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return await measure([single.pid!], port, runtimeS);
  } finally {
    await stopAll([single]);
  }
}

/** Three nodes over a fresh etcd, fio through node 1. */
async function measureNodes(root: string, threads: string[], runtimeS: number): Promise<Figures> {
  const etcd = await startEtcd();
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes: ChildProcess[] = [];
  try {
    const round = fs.mkdtempSync(path.join(root, 'nodes-'));
    for (const [i, port] of ports.entries()) {
      const peer = await freePort();
      const dataDir = path.join(round, `n${i + 1}`);
      const listen = ['--peer-listen', `127.0.0.1:${peer}`, '--nbd-listen', `127.0.0.1:${port}`];
      nodes.push(whorl(['--etcd', etcd.url, '--node', `n${i + 1}`, ...listen, '--data-dir', dataDir, ...threads]));
    }
    for (const port of ports) await waitForPort(port);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return await measure(
      nodes.map((node) => node.pid!),
      ports[0]!,
      runtimeS,
    );
  } finally {
    await stopAll(nodes);
    await etcd.stop();
  }
}

export async function benchHosts(args: string[]): Promise<void> {
  const runtimeS = Number(arg(args, 'runtime', '10'));
  const rounds = Number(arg(args, 'rounds', '2'));
  // Each side's own default unless given (--single-threads=N, --node-threads=N).
  const threads = (name: string): string[] => {
    const given = arg(args, name, '');
    return given === '' ? [] : ['--threads', given];
  };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-hosts-'));
  let one: Figures | undefined;
  let three: Figures | undefined;
  try {
    // Rounds alternate which side goes first, so that the machine's drift hits both alike.
    for (let round = 0; round < rounds; round++) {
      const single = async (): Promise<void> => {
        one = best(one, await measureSingle(root, threads('single-threads'), runtimeS));
      };
      const nodes = async (): Promise<void> => {
        three = best(three, await measureNodes(root, threads('node-threads'), runtimeS));
      };
      for (const side of round % 2 === 0 ? [single, nodes] : [nodes, single]) await side();
    }
    printFigures(one!, three!, rounds);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function printFigures(one: Figures, three: Figures, rounds: number): void {
  console.log(`\nbest of ${rounds} rounds per side, sides alternating`);
  console.log('| job | single host | three nodes | ratio | CPU µs/4K single | CPU µs/4K nodes | CPU ratio |');
  console.log('|---|---|---|---|---|---|---|');
  for (const workload of workloads) {
    const [a, b] = [one.value.get(workload.name)!, three.value.get(workload.name)!];
    const [ca, cb] = [one.cpuUs.get(workload.name)!, three.cpuUs.get(workload.name)!];
    const unit = workload.bs === '4k' ? 'IOPS' : 'MiB/s';
    console.log(
      `| ${workload.name} | ${a.toFixed(0)} ${unit} | ${b.toFixed(0)} ${unit} | ${(b / a).toFixed(2)} | ${ca.toFixed(0)} | ${cb.toFixed(0)} | ${(cb / ca).toFixed(2)} |`,
    );
  }
  console.log(
    `| 4k randwrite qd1 latency | ${one.qd1Ms.toFixed(2)} ms | ${three.qd1Ms.toFixed(2)} ms | ${(three.qd1Ms / one.qd1Ms).toFixed(2)} | | | |`,
  );
}
