import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg } from './args.js';
import { cpuSeconds, settle, startWhorl, stop } from './cluster.js';
import { runFio, waitForPort, workloads } from './nbd.js';

/**
 * `npm run bench -- floor [--runtime=S] [--rounds=N]`: how far below nbdkit-file the per-byte work
 * the issues require puts any whorl, whatever its design. Next to `nbdkit file` and whorl's
 * default disk (2 replicas) it runs floor-server.ts in three modes: Node doing just what
 * nbdkit-file does (plain), plus a CRC32C per 4 KiB block checked on every read (crc), plus a
 * second copy of every write (crc2). Same fio jobs as the cluster bench; best of rounds, with the
 * server's CPU (every thread) per 4 KiB moved in the best run. Last, what the disk under the
 * bench's files writes with and without fdatasync: whatever syncs its data is bound by the latter.
 */
const diskBytes = 2 * 2 ** 30;
const floorServer = fileURLToPath(new URL('./floor-server.js', import.meta.url));

interface Target {
  readonly name: string;
  readonly port: number;
  readonly exportName: string;
  readonly child: ChildProcess;
}

function sparseFile(file: string): string {
  fs.writeFileSync(file, '');
  fs.truncateSync(file, diskBytes);
  return file;
}

export async function benchFloor(args: string[]): Promise<void> {
  const runtimeS = Number(arg(args, 'runtime', '5'));
  const rounds = Number(arg(args, 'rounds', '2'));
  console.log(
    `fio nbd engine, ${runtimeS}s per job, best of ${rounds}; ${diskBytes / 2 ** 30} GiB each, 512 MiB prefilled`,
  );
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-floor-'));
  let port = 20000 + Math.floor(Math.random() * 20000);
  const targets: Target[] = [];
  const best = new Map<string, { value: number; cpuUs: number }>();
  try {
    const nbdkitPort = ++port;
    targets.push({
      name: 'nbdkit file',
      port: nbdkitPort,
      exportName: '',
      child: spawn(
        'nbdkit',
        ['-f', '-i', '127.0.0.1', '-p', String(nbdkitPort), 'file', sparseFile(path.join(work, 'nbdkit.img'))],
        { stdio: 'ignore' },
      ),
    });
    for (const mode of ['plain', 'crc', 'crc2']) {
      const files = (mode === 'crc2' ? ['a', 'b'] : ['a']).map((copy) =>
        sparseFile(path.join(work, `${mode}-${copy}.img`)),
      );
      const floorPort = ++port;
      const child = spawn(
        process.execPath,
        ['--max-semi-space-size=2', floorServer, `--port=${floorPort}`, `--mode=${mode}`, `--file=${files.join(',')}`],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      targets.push({ name: `node ${mode}`, port: floorPort, exportName: '', child });
    }
    const whorlPort = ++port;
    targets.push({
      name: 'whorl 2 replicas',
      port: whorlPort,
      exportName: 'default',
      child: await startWhorl(path.join(work, 'whorl'), whorlPort),
    });
    for (const target of targets) {
      await waitForPort(target.port);
      await runFio(target.port, target.exportName, { name: 'prefill', rw: 'write', bs: '1m', iodepth: 8 }, 0);
    }
    for (let round = 0; round < rounds; round++) {
      for (const workload of workloads) {
        for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
          await settle();
          const before = cpuSeconds(target.child.pid!);
          const result = await runFio(target.port, target.exportName, workload, runtimeS);
          const cpuUs = ((cpuSeconds(target.child.pid!) - before) * 1e6) / (result.movedBytes / 4096);
          const key = `${target.name} ${workload.name}`;
          if (result.value > (best.get(key)?.value ?? 0)) best.set(key, { value: result.value, cpuUs });
        }
      }
    }
  } finally {
    for (const target of targets) await stop(target.child);
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log('');
  console.log(`| workload | ${targets.map((target) => target.name).join(' | ')} |`);
  console.log(`|---|${targets.map(() => '---').join('|')}|`);
  for (const workload of workloads) {
    const peer = best.get(`nbdkit file ${workload.name}`)!.value;
    const cells = targets.map((target) => {
      const { value, cpuUs } = best.get(`${target.name} ${workload.name}`)!;
      const ratio = target.name === 'nbdkit file' ? '' : ` (${(value / peer).toFixed(2)}×)`;
      return `${value.toFixed(0)}${ratio} · ${cpuUs.toFixed(1)} µs`;
    });
    console.log(`| ${workload.name} | ${cells.join(' | ')} |`);
  }
  console.log('');
  console.log("Each cell: IOPS (4k) or MiB/s (1m), the ratio to nbdkit file, and the server's CPU per 4 KiB moved.");
  console.log('');
  console.log(`The disk under ${os.tmpdir()}: fio, 1 MiB sequential writes to a 2 GiB file, ${runtimeS} s each:`);
  for (const every of [0, 16])
    console.log(
      `- ${every === 0 ? 'never synced (the page cache)' : `fdatasync every ${every} MiB`}: ${(await deviceWrite(every, runtimeS)).toFixed(0)} MiB/s`,
    );
}

/** MiB/s of 1 MiB sequential writes to a file on the bench's disk, with fdatasync every `syncEveryMiB` (0: never). */
async function deviceWrite(syncEveryMiB: number, runtimeS: number): Promise<number> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-device-')), 'file');
  try {
    const args = [
      '--name=device',
      `--filename=${file}`,
      '--rw=write',
      '--bs=1m',
      '--size=2g',
      '--ioengine=psync',
      '--time_based',
      `--runtime=${runtimeS}`,
      '--output-format=json',
    ];
    if (syncEveryMiB > 0) args.push(`--fdatasync=${syncEveryMiB}`);
    const child = spawn('fio', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    await new Promise((resolve) => child.on('exit', resolve));
    return JSON.parse(output.slice(output.indexOf('{'))).jobs[0].write.bw_bytes / 2 ** 20;
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}
