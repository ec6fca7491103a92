import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminRequest } from '../src/admin/admin-client.js';
import { runFio, waitForPort, type Workload } from './nbd.js';
import { arg } from './args.js';
import { daemonNodeFlags } from '../src/cli/node-flags.js';

/**
 * `npm run bench -- snapshot [--snapshots=N] [--runtime=S]`: snapshot latency (p50/p99, in the
 * daemon and end to end over the admin socket) under a 4 KiB random-write load (fio, nbd engine,
 * qd16), the writes' p99/max latency with and without snapshots being taken, and 4 KiB random
 * write/read throughput just after a snapshot against before it (the copy-on-write cost). The
 * peer in the same run: qemu-nbd on a qcow2 image with an internal snapshot (`qemu-img snapshot
 * -c`, which needs the image idle), the same fio jobs before and after it.
 */
const whorlBin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const randwrite: Workload = { name: '4k randwrite qd16', rw: 'randwrite', bs: '4k', iodepth: 16 };
const randread: Workload = { name: '4k randread qd16', rw: 'randread', bs: '4k', iodepth: 16 };
const prefill: Workload = { name: 'prefill', rw: 'write', bs: '1m', iodepth: 8 };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

export async function benchSnapshot(args: string[]): Promise<void> {
  const snapshots = Number(arg(args, 'snapshots', '100'));
  const runtimeS = Number(arg(args, 'runtime', '5'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-snapshot-'));
  let port = 20000 + Math.floor(Math.random() * 20000);
  try {
    // Peer: qemu-nbd on qcow2, internal snapshot taken with the image idle.
    const image = path.join(work, 'peer.qcow2');
    spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '2G']);
    const qemu = async (): Promise<ChildProcess> => {
      port += 1;
      const child = spawn(
        'qemu-nbd',
        ['-f', 'qcow2', '-b', '127.0.0.1', '-p', String(port), '-x', '', '--cache=writeback', '-t', image],
        { stdio: 'ignore' },
      );
      await waitForPort(port);
      return child;
    };
    let peer = await qemu();
    await runFio(port, '', prefill, 0);
    const peerBefore = await runFio(port, '', randwrite, runtimeS);
    const peerReadBefore = await runFio(port, '', randread, runtimeS);
    await stop(peer);
    const started = performance.now();
    const created = spawnSync('qemu-img', ['snapshot', '-c', 's1', image]);
    const peerSnapshotMs = performance.now() - started;
    if (created.status !== 0) throw new Error(`qemu-img snapshot: ${created.stderr}`);
    peer = await qemu();
    const peerAfter = await runFio(port, '', randwrite, runtimeS);
    const peerReadAfter = await runFio(port, '', randread, runtimeS);
    await stop(peer);

    const dataDir = path.join(work, 'whorl');
    port += 1;
    const whorl = spawn(
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
        '2G',
        '--disk-capacity',
        '16G',
        '--log-level',
        'warn',
      ],
      { stdio: 'ignore' },
    );
    await waitForPort(port);
    const socket = path.join(dataDir, 'admin.sock');
    await runFio(port, 'default', prefill, 0);
    const before = await runFio(port, 'default', randwrite, runtimeS);
    const readBefore = await runFio(port, 'default', randread, runtimeS);
    const quiet = await runFio(port, 'default', randwrite, runtimeS);

    // Snapshots every 250 ms under the random-write load.
    const loaded = runFio(port, 'default', randwrite, Math.ceil((snapshots * 250) / 1000) + 2);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const inDaemon: number[] = [];
    const endToEnd: number[] = [];
    const pauses: number[] = [];
    for (let i = 0; i < snapshots; i++) {
      const asked = performance.now();
      const result = (await adminRequest(socket, { command: 'snapshot.create', disk: 'default', name: `b${i}` })) as {
        pauseMs: number;
        tookMs: number;
      };
      endToEnd.push(performance.now() - asked);
      inDaemon.push(result.tookMs);
      pauses.push(result.pauseMs);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const underSnapshots = await loaded;
    const after = await runFio(port, 'default', randwrite, runtimeS);
    const readAfter = await runFio(port, 'default', randread, runtimeS);
    await stop(whorl);

    const ms = (value: number): string => `${value.toFixed(1)} ms`;
    console.log('');
    console.log(
      `${snapshots} snapshots of the default disk (2 replicas, 4 servers), one every 250 ms, under fio ${randwrite.name} on 512 MiB`,
    );
    console.log('| measure | whorl | goal | qemu-nbd + qcow2 (qemu-img snapshot, image idle) |');
    console.log('|---|---|---|---|');
    console.log(
      `| snapshot latency in the daemon p50 / p99 | ${ms(percentile(inDaemon, 50))} / ${ms(percentile(inDaemon, 99))} | ≤ 50 ms | ${ms(peerSnapshotMs)} (one, no load) |`,
    );
    console.log(
      `| snapshot latency end to end (admin socket) p50 / p99 | ${ms(percentile(endToEnd, 50))} / ${ms(percentile(endToEnd, 99))} | ≤ 50 ms | |`,
    );
    console.log(
      `| writes held (the move to the reserved epoch) p50 / p99 / max | ${ms(percentile(pauses, 50))} / ${ms(percentile(pauses, 99))} / ${ms(Math.max(...pauses))} | a few ms | |`,
    );
    console.log(`| write latency p99 / max, no snapshots | ${ms(quiet.p99Ms)} / ${ms(quiet.maxMs)} | | |`);
    console.log(
      `| write latency p99 / max, snapshots every 250 ms | ${ms(underSnapshots.p99Ms)} / ${ms(underSnapshots.maxMs)} | | |`,
    );
    console.log(
      `| 4k randwrite IOPS before → after a snapshot | ${before.value.toFixed(0)} → ${after.value.toFixed(0)} (${(after.value / before.value).toFixed(2)}×) | | ${peerBefore.value.toFixed(0)} → ${peerAfter.value.toFixed(0)} (${(peerAfter.value / peerBefore.value).toFixed(2)}×) |`,
    );
    console.log(
      `| 4k randread IOPS before → after a snapshot | ${readBefore.value.toFixed(0)} → ${readAfter.value.toFixed(0)} (${(readAfter.value / readBefore.value).toFixed(2)}×) | | ${peerReadBefore.value.toFixed(0)} → ${peerReadAfter.value.toFixed(0)} (${(peerReadAfter.value / peerReadBefore.value).toFixed(2)}×) |`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
