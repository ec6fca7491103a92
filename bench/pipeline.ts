import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonNodeFlags } from '../src/cli/node-flags.js';
import { whorlBin } from '../test/helpers/daemon.js';
import { pipelineReads } from '../test/helpers/pipeline-client.js';
import { freePort, listening } from '../test/helpers/ports.js';
import { arg } from './args.js';

/**
 * `npm run bench -- pipeline [--requests=N] [--rounds=R]`: a client that pipelines 1 KiB READs
 * (then WRITEs) over a 1 GiB span as fast as the socket takes them, reading replies only between
 * its writes, against `nbdkit memory 1G`, `whorl serve --backend memory --size 1G` and the default
 * cluster (fresh directory); sides alternate each round and each keeps its best time.
 */
const spanBytes = 1024 ** 3;

async function side(name: string, port: number): Promise<ChildProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-pipeline-'));
  const listen = `127.0.0.1:${port}`;
  const whorl = [...daemonNodeFlags, whorlBin, 'serve', '--nbd-listen', listen, '--log-level', 'warn'];
  const child =
    name === 'nbdkit memory'
      ? spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), 'memory', '1G'], { stdio: 'ignore' })
      : name === 'whorl memory'
        ? spawn(process.execPath, [...whorl, '--backend', 'memory', '--size', '1G'], { stdio: 'ignore' })
        : spawn(process.execPath, [...whorl, '--data-dir', dir], { stdio: 'ignore' });
  child.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  await listening(port);
  return child;
}

export async function benchPipeline(args: string[]): Promise<void> {
  const requests = Number(arg(args, 'requests', '1000000'));
  const rounds = Number(arg(args, 'rounds', '2'));
  const names = ['nbdkit memory', 'whorl memory', 'whorl cluster'];
  const best = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const port = await freePort();
      const child = await side(name, port);
      for (const op of ['read', 'write'] as const) {
        const run = await pipelineReads(port, requests, 1024, spanBytes, op);
        const key = `${name} ${op}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, run.seconds));
        console.log(`round ${round + 1}: ${key}: ${run.seconds.toFixed(1)} s`);
      }
      child.kill('SIGKILL');
    }
  }
  console.log(`\n${requests} pipelined 1 KiB requests, best of ${rounds}; ratio to nbdkit memory`);
  console.log('| op | nbdkit memory | whorl memory | ratio | whorl cluster | ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const op of ['read', 'write']) {
    const peer = best.get(`nbdkit memory ${op}`)!;
    const memory = best.get(`whorl memory ${op}`)!;
    const cluster = best.get(`whorl cluster ${op}`)!;
    console.log(
      `| ${op} | ${peer.toFixed(1)} s | ${memory.toFixed(1)} s | ${(memory / peer).toFixed(2)} | ${cluster.toFixed(1)} s | ${(cluster / peer).toFixed(2)} |`,
    );
  }
}
