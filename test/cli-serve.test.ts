import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { MemoryBackend } from '../src/backends/memory.js';
import { daemonNodeFlags } from '../src/cli/node-flags.js';
import { Command, Errno } from '../src/nbd/protocol.js';
import { startDaemon, whorlBin } from './helpers/daemon.js';
import { RawClient } from './helpers/raw-client.js';
import { run, runOk } from './helpers/run.js';
import { scratchDirectory } from './helpers/scratch.js';
import { startServer } from './helpers/server.js';

const badArguments: Array<[string[], RegExp]> = [
  [['--size', '12Q'], /--size: '12Q' is not a size/],
  [['--size', '1000'], /--size: '1000' is not a multiple of 512/],
  [['--size', '0'], /--size: '0' is out of range/],
  [['--nbd-listen', 'localhost'], /--nbd-listen: 'localhost' is not HOST:PORT/],
  [['--nbd-listen', '127.0.0.1:70000'], /port '70000' is out of range/],
  [['--backend', 'floppy'], /--backend: 'floppy' is not one of cluster, memory/],
  [['--log-level', 'loud'], /--log-level: 'loud'/],
  [['--log-format', 'fancy'], /--log-format: 'fancy' is not one of json, pretty/],
  [['--servers', 'four'], /--servers: 'four' is not a whole number/],
  [['--threads', '65'], /--threads: '65' is not a whole number from 0 to 64/],
  [['--threads', 'two'], /--threads: 'two' is not a whole number from 0 to 64/],
  [['--default-disk-size', '10Q'], /--default-disk-size: '10Q' is not a size/],
  [['--disk-capacity', '1M'], /--disk-capacity: '1M' is not from the 64M minimum to the 8191G maximum/],
  [['--disk-capacity', '8T'], /--disk-capacity: '8T' is not from the 64M minimum to the 8191G maximum/],
  [['--mirror-lag', '100K'], /--mirror-lag: '100K' is not a multiple of 64K from 0 to 64M/],
  [['--mirror-lag', '1G'], /--mirror-lag: '1G' is not a multiple of 64K from 0 to 64M/],
  [['--frobnicate'], /Unknown option '--frobnicate'/],
  [['--disk', '/tmp/whorl-a', '--disk', '/tmp/whorl-a'], /--disk \/tmp\/whorl-a is given twice/],
  [['--disk', '/tmp/whorl-a', '--servers', '3'], /--servers 3 with 1 --disk paths: each server has one disk/],
];

for (const [args, message] of badArguments) {
  test(`whorl serve ${args.join(' ')} is a one-line error with exit code 2`, async (t) => {
    const result = await run(process.execPath, [whorlBin, 'serve', ...args]);
    t.is(result.code, 2);
    t.regex(result.stderr, message);
    t.is(result.stderr.trim().split('\n').length, 1);
  });
}

test('whorl serve --help says the memory backend loses data on exit', async (t) => {
  const result = await runOk(process.execPath, [whorlBin, 'serve', '--help']);
  t.regex(result.stdout, /LOSES ALL DATA WHEN whorl EXITS/);
  t.regex(result.stdout, /127\.0\.0\.1:10809/);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`whorl serve stops on ${signal} and exits 0`, async (t) => {
    const daemon = await startDaemon(['--backend', 'memory', '--size', '64M', '--log-level', 'info']);
    const client = await RawClient.connect(daemon.port);
    await client.go();
    client.request(Command.Write, { flags: 1, payload: Buffer.alloc(4096, 1) });
    t.is((await client.reply())?.kind, 'simple');
    daemon.child.kill(signal);
    const exit = await daemon.exited;
    t.deepEqual(exit, { code: 0, signal: null }, daemon.logs());
    await client.closed;
    t.regex(daemon.logs(), /"leasedBuffers":0/);
  });
}

/** A memory disk whose writes take a while, so a shutdown finds them in flight. */
class SlowWrites extends MemoryBackend {
  override async write(offsetBytes: number, from: Buffer, fua: boolean): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return super.write(offsetBytes, from, fua);
  }
}

test('shutdown answers requests in flight and refuses new ones with ESHUTDOWN', async (t) => {
  const backend = new SlowWrites(8 * 1024 * 1024);
  const served = await startServer(backend);
  const client = await RawClient.connect(served.port);
  await client.go();
  client.request(Command.Write, { cookie: 1n, payload: Buffer.alloc(4096, 0xaa) });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const closing = served.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  client.request(Command.Read, { cookie: 2n, length: 4096 });
  const replies = [await client.reply(), await client.reply()];
  t.deepEqual(
    replies.map((r) => (r?.kind === 'simple' ? [Number(r.cookie), r.error] : [])),
    [
      [2, Errno.ESHUTDOWN],
      [1, Errno.OK],
    ],
  );
  await closing;
  await client.closed;
  const check = Buffer.alloc(4096);
  await backend.read(0, check);
  t.true(
    check.every((b) => b === 0xaa),
    'the in-flight write completed',
  );
  t.is(served.pool.leased, 0);
});

test('whorl serve --nbd-socket also serves on a Unix socket, removed on exit', async (t) => {
  const { mkdtemp, rm, stat } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'whorl-sock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'nbd.sock');
  const daemon = await startDaemon(['--backend', 'memory', '--size', '32M', '--nbd-socket', path]);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const info = JSON.parse((await runOk('nbdinfo', ['--json', `nbd+unix:///default?socket=${path}`])).stdout);
  t.is(info.exports[0]['export-size'], 32 * 1024 * 1024);
  daemon.child.kill('SIGTERM');
  t.is((await daemon.exited).code, 0);
  await t.throwsAsync(stat(path), undefined, 'the socket file is removed');
});

test('whorl serve --servers 64 starts: each of the 528 mirror pairs gets its share of the lag buffers, not 1M each (which would exhaust the buffer pool)', async (t) => {
  // 592 replica and mirror groups: seconds alone, longer beside the suite's fio runs.
  t.timeout(90_000);
  const dataDir = scratchDirectory('whorl-serve-64-');
  const daemon = await startDaemon(
    ['--data-dir', dataDir, '--servers', '64', '--disk-capacity', '64M', '--log-level', 'info'],
    50_000,
  );
  t.teardown(() => daemon.child.kill('SIGKILL'));
  t.regex(
    daemon.logs(),
    /"configured":1048576,"perPair":65536,"msg":"mirror lag cut to each mirror pair's share of the buffer pool"/,
  );
  const listed = await runOk(process.execPath, [whorlBin, 'disk', 'list', '--data-dir', dataDir]);
  t.regex(listed.stdout, /default .* chained/);
});

test('whorl serve --threads N runs the actors on N worker threads (0: on the main thread), and one thread serves a replicated disk', async (t) => {
  t.timeout(120_000);
  const osThreads = (pid: number): number => fs.readdirSync(`/proc/${pid}/task`).length;
  const started: number[] = [];
  for (const threads of [0, 1, 3]) {
    const dataDir = scratchDirectory(`whorl-serve-threads-${threads}-`);
    const daemon = await startDaemon(
      ['--data-dir', dataDir, '--threads', String(threads), '--default-disk-size', '64M', '--disk-capacity', '64M'],
      30_000,
    );
    t.teardown(() => daemon.child.kill('SIGKILL'));
    started.push(osThreads(daemon.child.pid!));
    if (threads <= 1) {
      const data = crypto.randomBytes(8 * 1024 * 1024);
      const file = `${dataDir}-in.bin`;
      fs.writeFileSync(file, data);
      t.teardown(() => fs.rmSync(file, { force: true }));
      const uri = `nbd://127.0.0.1:${daemon.port}/default`;
      await runOk('nbdcopy', [file, uri]);
      const readBack = await runOk('bash', ['-c', `nbdcopy ${uri} - | head -c ${data.length} | sha256sum`]);
      t.is(readBack.stdout.split(' ')[0], crypto.createHash('sha256').update(data).digest('hex'));
    }
    daemon.child.kill('SIGTERM');
    t.is((await daemon.exited).code, 0);
  }
  // Everything else (V8's helpers, libuv's pool, lmdb-js's writers) is the same in both.
  t.deepEqual(
    [started[1]! - started[0]!, started[2]! - started[1]!],
    [1, 2],
    `OS threads with --threads 0, 1 and 3: ${started.join(', ')}`,
  );
});

test('the whorl executable and npm start run the daemon with its V8 flags (a bounded young generation)', async (t) => {
  const source = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const shebang = fs.readFileSync(source, 'utf8').split('\n')[0]!;
  const interpreter = /^#!\/usr\/bin\/env -S (.+)$/.exec(shebang);
  t.truthy(interpreter, shebang);
  const [program, ...flags] = interpreter![1]!.split(' ');
  t.is(program, 'node');
  t.deepEqual(flags, daemonNodeFlags);
  const start = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'))
    .scripts.start as string;
  t.true(start.includes(`node ${daemonNodeFlags.join(' ')} dist/src/cli/main.js serve`), start);
  // The line as the kernel runs it: env splits it and node accepts every flag.
  const result = await run('/usr/bin/env', ['-S', interpreter![1]!, whorlBin, '--help']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /Usage: whorl/);
});
