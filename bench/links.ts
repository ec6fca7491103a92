import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { arg } from './args.js';
import { cpuSeconds } from './cluster.js';

/**
 * `npm run bench -- links [--seconds=S] [--depth=N] [--kib=K]`: what one request between two nodes costs
 * over the node links (transport/node-links.ts), against the floor of the same exchange on a plain
 * socket. Node `a` asks an actor of node `b` (each a process, every actor on its main thread) for
 * 4 KiB writes (payload out, a small reply back) and 4 KiB reads (a small request, payload back),
 * at a fixed depth; the CPU of both processes per request, and requests a second.
 */
const sideScript = fileURLToPath(new URL('./links-node.js', import.meta.url));

interface Side {
  readonly perSecond: number;
  readonly cpuUs: number;
}

async function pair(
  mode: string,
  depth: number,
  seconds: number,
  bytes: number,
): Promise<{ rate: number; cpuUs: number }> {
  const b = spawn(process.execPath, [sideScript, 'b', mode, '0', String(depth), String(seconds), String(bytes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [portLine] = (await once(b.stdout, 'data')) as [Buffer];
  const before = cpuSeconds(b.pid!);
  const a = spawn(
    process.execPath,
    [sideScript, 'a', mode, portLine.toString().trim(), String(depth), String(seconds), String(bytes)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  a.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  await once(a, 'exit');
  const bCpu = cpuSeconds(b.pid!) - before;
  b.kill('SIGKILL');
  const side = JSON.parse(output) as Side;
  const done = side.perSecond * seconds;
  return { rate: side.perSecond, cpuUs: side.cpuUs + (bCpu * 1e6) / done };
}

export async function benchLinks(args: string[]): Promise<void> {
  const seconds = Number(arg(args, 'seconds', '5'));
  const depth = Number(arg(args, 'depth', '16'));
  const kib = Number(arg(args, 'kib', '4'));
  console.log(`\ndepth ${depth}, ${seconds} s each; CPU is both processes' user + system time per request`);
  console.log('| exchange | node links: requests/s | CPU µs | plain socket: requests/s | CPU µs | CPU ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const kind of ['write', 'read']) {
    const links = await pair(kind, depth, seconds, kib * 1024);
    const raw = await pair(`raw-${kind}`, depth, seconds, kib * 1024);
    console.log(
      `| ${kib} KiB ${kind} | ${links.rate.toFixed(0)} | ${links.cpuUs.toFixed(1)} | ${raw.rate.toFixed(0)} | ${raw.cpuUs.toFixed(1)} | ${(links.cpuUs / raw.cpuUs).toFixed(2)} |`,
    );
  }
}
