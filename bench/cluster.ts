import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { regionSize, runFio, waitForPort, workloads, type Workload } from './nbd.js';
import { arg } from './args.js';
import { daemonNodeFlags } from '../src/cli/node-flags.js';

/**
 * `npm run bench -- cluster`: fio's nbd engine against the embedded cluster's default disk
 * (4 servers, 2 replicas), a 1-replica disk, and the same disk with one server stopped, next to
 * `nbdkit file` on a file of the same size, in the same run. Also: bytes resync moves against
 * bytes written while a server was away, and the daemon's RSS with a 1 TiB thin disk and 16
 * connections.
 */
const whorlBin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const diskSize = '2G';

const fio = runFio;

/** CPU time (user + system, every thread) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

type Recorder = (key: string, value: number) => void;

/**
 * Writes the page cache's dirty pages out and lets the machine settle, so that a job does not
 * share the 2 cores with the kernel writing back what the job before it wrote (a 1 MiB write job
 * leaves gigabytes dirty, which the next job's peer may or may not inherit).
 */
export async function settle(): Promise<void> {
  const sync = spawn('sync', [], { stdio: 'ignore' });
  await once(sync, 'exit');
  await new Promise((resolve) => setTimeout(resolve, 1000));
}

/** Runs one job on a settled machine and records its figure and the server's CPU per 4 KiB the job moved (in µs). */
async function measured(
  pid: number,
  key: string,
  record: Recorder,
  recordCpu: Recorder,
  port: number,
  disk: string,
  workload: Workload,
  runtimeS: number,
): Promise<Awaited<ReturnType<typeof runFio>>> {
  await settle();
  const before = cpuSeconds(pid);
  const result = await fio(port, disk, workload, runtimeS);
  record(key, result.value);
  recordCpu(key, ((cpuSeconds(pid) - before) * 1e6) / (result.movedBytes / 4096));
  return result;
}

export function cli(dataDir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [whorlBin, ...args, '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`whorl ${args.join(' ')}: ${out}`))));
  });
}

export async function startWhorl(dataDir: string, port: number, extra: readonly string[] = []): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      ...daemonNodeFlags,
      whorlBin,
      'serve',
      '--data-dir',
      dataDir,
      '--nbd-listen',
      `127.0.0.1:${port}`,
      '--default-disk-size',
      diskSize,
      '--disk-capacity',
      '16G',
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function waitUntilUp(dataDir: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    const servers = JSON.parse(await cli(dataDir, ['server', 'list', '--json'])) as Array<{ state: string }>;
    if (servers.every((server) => server.state === 'up')) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The daemon's resident MiB: in all, at peak, and split into its own memory and mapped file pages. */
function rssMiB(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM'), anon: field('RssAnon'), file: field('RssFile') };
}

export async function benchCluster(args: string[]): Promise<void> {
  const runtimeS = Number(arg(args, 'runtime', '10'));
  const rounds = Number(arg(args, 'rounds', '1'));
  // The daemon's worker threads (`whorl serve --threads`); its default when not given.
  const threads = arg(args, 'threads', '');
  const serveArgs = threads ? ['--threads', threads] : [];
  console.log(
    `fio nbd engine, ${runtimeS}s per job, best of ${rounds}, ${regionSize} of a ${diskSize} disk${threads ? `, whorl serve --threads ${threads}` : ''}`,
  );
  let port = 20000 + Math.floor(Math.random() * 20000);
  const best = new Map<string, number>();
  const record = (key: string, value: number): void => {
    best.set(key, Math.max(best.get(key) ?? 0, value));
  };
  const leastCpu = new Map<string, number>();
  const recordCpu = (key: string, value: number): void => {
    leastCpu.set(key, Math.min(leastCpu.get(key) ?? Infinity, value));
  };
  let resync = '';
  for (let round = 0; round < rounds; round++) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-cluster-'));
    try {
      // nbdkit file on a sparse file of the same size.
      const file = path.join(work, 'disk.img');
      fs.writeFileSync(file, '');
      fs.truncateSync(file, 2 * 2 ** 30);
      port += 1;
      const nbdkit = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), 'file', file], { stdio: 'ignore' });
      await waitForPort(port);
      await fio(port, '', { name: 'prefill', rw: 'write', bs: '1m', iodepth: 8 }, 0);
      for (const workload of workloads)
        await measured(nbdkit.pid!, `nbdkit ${workload.name}`, record, recordCpu, port, '', workload, runtimeS);
      await stop(nbdkit);

      const dataDir = path.join(work, 'whorl');
      port += 1;
      const whorl = await startWhorl(dataDir, port, serveArgs);
      await cli(dataDir, ['disk', 'create', 'striped', '--size', diskSize, '--replicas', '1']);
      for (const disk of ['default', 'striped']) {
        await fio(port, disk, { name: 'prefill', rw: 'write', bs: '1m', iodepth: 8 }, 0);
        for (const workload of workloads)
          await measured(whorl.pid!, `${disk} ${workload.name}`, record, recordCpu, port, disk, workload, runtimeS);
      }
      // Degraded: one of 4 servers stopped. Bytes written meanwhile against bytes resync moves.
      await cli(dataDir, ['server', 'stop', '1']);
      let writtenWhileAway = 0;
      for (const workload of workloads) {
        const result = await measured(
          whorl.pid!,
          `degraded ${workload.name}`,
          record,
          recordCpu,
          port,
          'default',
          workload,
          runtimeS,
        );
        writtenWhileAway += workload.rw.includes('write') ? result.writtenBytes : 0;
      }
      const sequentialBytes = (
        await fio(port, 'default', { name: 'seq', rw: 'write', bs: '1m', iodepth: 8 }, 0, [
          '--offset=1G',
          '--size=256M',
        ])
      ).writtenBytes;
      const info = JSON.parse(await cli(dataDir, ['disk', 'info', 'default', '--json'])) as { staleBytes: number };
      await cli(dataDir, ['server', 'start', '1']);
      const resyncMs = await waitUntilUp(dataDir);
      const verify = JSON.parse(await cli(dataDir, ['disk', 'verify', 'default', '--json'])) as {
        differing: unknown[];
      };
      resync = `resync: ${(info.staleBytes / 2 ** 20).toFixed(0)} MiB copied for ${((writtenWhileAway + sequentialBytes) / 2 ** 20).toFixed(0)} MiB written while away (${(info.staleBytes / (writtenWhileAway + sequentialBytes)).toFixed(2)}×; random 4k writes dirty whole 64 KiB regions), ${(resyncMs / 1000).toFixed(1)} s, copies differing afterwards: ${verify.differing.length}`;
      await stop(whorl);

      // RSS with a 1 TiB thin disk and 16 connections.
      port += 1;
      const again = await startWhorl(dataDir, port, serveArgs);
      await cli(dataDir, ['disk', 'create', 'huge', '--size', '1T']);
      await fio(port, 'huge', { name: 'rss', rw: 'randwrite', bs: '4k', iodepth: 4 }, Math.min(runtimeS, 10), [
        '--numjobs=16',
        '--size=1T',
      ]);
      const memory = rssMiB(again.pid!);
      record('rss MiB', memory.rss);
      record('peak rss MiB', memory.peak);
      record('rss anon MiB', memory.anon);
      record('rss file MiB', memory.file);
      await stop(again);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  printTables(best, leastCpu, resync);
}

function printTables(best: Map<string, number>, leastCpu: Map<string, number>, resync: string): void {
  const unit = (workload: Workload): string => (workload.bs === '4k' ? 'IOPS' : 'MiB/s');
  console.log('');
  console.log(
    '| workload | nbdkit file | whorl 2 replicas | ratio | whorl 1 replica | ratio | 2 replicas, 1 of 4 servers stopped | degraded / normal |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const workload of workloads) {
    const peer = best.get(`nbdkit ${workload.name}`)!;
    const two = best.get(`default ${workload.name}`)!;
    const one = best.get(`striped ${workload.name}`)!;
    const degraded = best.get(`degraded ${workload.name}`)!;
    console.log(
      `| ${workload.name} | ${peer.toFixed(0)} ${unit(workload)} | ${two.toFixed(0)} | ${(two / peer).toFixed(2)}× | ${one.toFixed(0)} | ${(one / peer).toFixed(2)}× | ${degraded.toFixed(0)} | ${(degraded / two).toFixed(2)}× |`,
    );
  }
  console.log('');
  // Server CPU (every thread, user + system) per 4 KiB moved: on a CPU-bound machine this, not
  // the disk, sets the ratios above.
  console.log(
    '| server CPU µs per 4 KiB moved | nbdkit file | whorl 2 replicas | ratio | whorl 1 replica | ratio | 1 of 4 stopped |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const workload of workloads) {
    const cpu = (key: string): number => leastCpu.get(`${key} ${workload.name}`)!;
    const peer = cpu('nbdkit');
    console.log(
      `| ${workload.name} | ${peer.toFixed(1)} | ${cpu('default').toFixed(1)} | ${(cpu('default') / peer).toFixed(1)}× | ${cpu('striped').toFixed(1)} | ${(cpu('striped') / peer).toFixed(1)}× | ${cpu('degraded').toFixed(1)} |`,
    );
  }
  console.log('');
  console.log(resync);
  console.log(
    `daemon RSS with a 1 TiB thin disk and 16 connections writing: ${best.get('rss MiB')!.toFixed(0)} MiB (peak ${best.get('peak rss MiB')!.toFixed(0)} MiB)`,
  );
  // RssFile is LMDB's read-only map of the disk files: page cache the kernel can drop, not heap.
  console.log(
    `  of which the daemon's own memory (RssAnon: heaps, buffer pool): ${best.get('rss anon MiB')!.toFixed(0)} MiB; LMDB file pages mapped (RssFile): ${best.get('rss file MiB')!.toFixed(0)} MiB`,
  );
}
