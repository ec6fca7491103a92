import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runOk } from './helpers/run.js';
import { backendKinds, startServerOf } from './helpers/server.js';

const MiB = 1024 * 1024;

for (const kind of backendKinds) {
  test(`qemu-img info, convert to and from raw, compare and map (${kind})`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'whorl-qemu-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const source = join(dir, 'source.raw');
    const back = join(dir, 'back.raw');
    const handle = await open(source, 'w');
    await handle.truncate(32 * MiB);
    await handle.write(randomBytes(3 * MiB), 0, 3 * MiB, 2 * MiB);
    await handle.close();

    const served = await startServerOf(kind, 32 * MiB);
    const info = JSON.parse((await runOk('qemu-img', ['info', '--output=json', '-f', 'raw', served.uri])).stdout);
    t.is(info['virtual-size'], 32 * MiB);

    await runOk('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', source, served.uri]);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, served.uri]);
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', served.uri, back]);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, back]);

    const map = JSON.parse(
      (await runOk('qemu-img', ['map', '--output=json', '-f', 'raw', served.uri])).stdout,
    ) as Array<{ start: number; length: number; data: boolean; zero: boolean }>;
    const data = map.filter((e) => e.data);
    t.deepEqual(
      data.map((e) => [e.start, e.length]),
      [[2 * MiB, 3 * MiB]],
    );

    await runOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0x01 0 512', served.uri]);
    const differs = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, served.uri]);
    t.is(differs.code, 1, 'compare notices a changed sector');
    await served.close();
    t.is(served.pool.leased, 0);
  });
}

for (const kind of backendKinds) {
  test(`qemu-io patterns, write -z, discard and unaligned 512-byte I/O (${kind})`, async (t) => {
    const served = await startServerOf(kind, 16 * MiB);
    const io = (...commands: string[]) =>
      runOk('qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), served.uri]);
    await io('write -P 0xa5 0 1M', 'write -P 0x5a 1M 64k', 'write -P 0x33 8M 2M');
    await io('read -P 0xa5 0 1M', 'read -P 0x5a 1M 64k', 'read -P 0x33 8M 2M', 'read -P 0 2M 1M');

    await io('write -z 256k 128k');
    await io('read -P 0 256k 128k', 'read -P 0xa5 0 256k', 'read -P 0xa5 384k 640k');

    await io('discard 8M 1M');
    await io('read -P 0 8M 1M', 'read -P 0x33 9M 1M');

    await io('write -P 0x77 512 512', 'write -P 0x78 4608 1536', 'write -P 0x79 12345 1000');
    await io(
      'read -P 0x77 512 512',
      'read -P 0x78 4608 1536',
      'read -P 0x79 12345 1000',
      'read -P 0xa5 0 512',
      'read -P 0xa5 6144 2048',
    );

    const bad = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xa5 1M 64k', served.uri]);
    t.regex(bad.stdout + bad.stderr, /Pattern verification failed/, 'a wrong pattern is noticed');
    await served.close();
    t.is(served.pool.leased, 0);
  });
}
