import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { arg } from './args.js';
import { cli, startWhorl, stop } from './cluster.js';
import { runFio, waitForPort, workloads } from './nbd.js';

/**
 * `npm run bench -- stripe [--runtime=S] [--rounds=N]`: the stripe unit of a GMap, 64 KiB (the
 * default) against 1 MiB, on two 2-replica disks of the same embedded cluster, with `nbdkit file`
 * on a file of the same size in the same run for scale. Each round runs every workload on every
 * target in turn, alternating the order, so that machine noise falls on all alike; best of rounds.
 */
const diskSize = '2G';
const stripes = ['64K', '1M'];

export async function benchStripe(args: string[]): Promise<void> {
  const runtimeS = Number(arg(args, 'runtime', '5'));
  const rounds = Number(arg(args, 'rounds', '2'));
  console.log(`fio nbd engine, ${runtimeS}s per job, best of ${rounds}; disks of ${diskSize}, 2 replicas, 4 servers`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-stripe-'));
  let port = 20000 + Math.floor(Math.random() * 20000);
  const best = new Map<string, number>();
  try {
    const file = path.join(work, 'disk.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 2 * 2 ** 30);
    const nbdkitPort = ++port;
    const nbdkit = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(nbdkitPort), 'file', file], {
      stdio: 'ignore',
    });
    const dataDir = path.join(work, 'whorl');
    const whorlPort = ++port;
    const whorl = await startWhorl(dataDir, whorlPort);
    try {
      await waitForPort(nbdkitPort);
      const targets = [{ name: 'nbdkit file', port: nbdkitPort, exportName: '' }];
      for (const stripe of stripes) {
        const name = `stripe-${stripe.toLowerCase()}`;
        await cli(dataDir, ['disk', 'create', name, '--size', diskSize, '--stripe', stripe]);
        targets.push({ name: `whorl stripe ${stripe}`, port: whorlPort, exportName: name });
      }
      for (const target of targets)
        await runFio(target.port, target.exportName, { name: 'prefill', rw: 'write', bs: '1m', iodepth: 8 }, 0);
      for (let round = 0; round < rounds; round++) {
        for (const workload of workloads) {
          for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
            const key = `${target.name} ${workload.name}`;
            best.set(
              key,
              Math.max(best.get(key) ?? 0, (await runFio(target.port, target.exportName, workload, runtimeS)).value),
            );
          }
        }
      }
    } finally {
      await stop(whorl);
      await stop(nbdkit);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log('');
  console.log('| workload | nbdkit file | whorl stripe 64K | ratio | whorl stripe 1M | ratio | 1M / 64K |');
  console.log('|---|---|---|---|---|---|---|');
  for (const workload of workloads) {
    const unit = workload.bs === '4k' ? 'IOPS' : 'MiB/s';
    const peer = best.get(`nbdkit file ${workload.name}`)!;
    const small = best.get(`whorl stripe 64K ${workload.name}`)!;
    const large = best.get(`whorl stripe 1M ${workload.name}`)!;
    console.log(
      `| ${workload.name} | ${peer.toFixed(0)} ${unit} | ${small.toFixed(0)} | ${(small / peer).toFixed(2)}× | ${large.toFixed(0)} | ${(large / peer).toFixed(2)}× | ${(large / small).toFixed(2)}× |`,
    );
  }
}
