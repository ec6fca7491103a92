import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend } from '../src/backends/memory.js';
import { runOk } from './helpers/run.js';
import { backendKinds, startServer, startServerOf } from './helpers/server.js';

const MiB = 1024 * 1024;

for (const kind of backendKinds) {
  test(`nbdinfo shows the export, its flags and block sizes (${kind})`, async (t) => {
    const served = await startServerOf(kind, 64 * MiB);
    const info = JSON.parse((await runOk('nbdinfo', ['--json', served.uri])).stdout);
    const exported = info.exports[0];
    t.is(exported['export-size'], 64 * MiB);
    t.true(exported.can_multi_conn);
    t.true(exported.can_flush && exported.can_fua && exported.can_trim && exported.can_zero && exported.can_fast_zero);
    t.is(exported.block_size_maximum, 64 * MiB);
    t.false(exported.is_read_only);
    const byDefaultName = JSON.parse((await runOk('nbdinfo', ['--json', `nbd://127.0.0.1:${served.port}/`])).stdout);
    t.is(byDefaultName.exports[0]['export-size'], 64 * MiB, 'the empty name is the default export');
    await served.close();
    t.is(served.pool.leased, 0);
  });
}

test('nbdinfo --list lists the export with its description', async (t) => {
  const served = await startServer(new MemoryBackend(8 * MiB, { description: 'scratch disk' }));
  const listed = JSON.parse((await runOk('nbdinfo', ['--list', '--json', served.uri])).stdout);
  t.deepEqual(
    listed.exports.map((e: { 'export-name': string }) => e['export-name']),
    ['default'],
  );
  t.is(listed.exports[0].description, 'scratch disk');
  await served.close();
});

for (const kind of backendKinds) {
  test(`nbdinfo --map reports data and holes after writes (${kind})`, async (t) => {
    const served = await startServerOf(kind, 16 * MiB);
    await runOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 4M 1M', served.uri]);
    const map = JSON.parse((await runOk('nbdinfo', ['--map', '--json', served.uri])).stdout) as Array<{
      offset: number;
      length: number;
      type: number;
    }>;
    const data = map.filter((e) => (e.type & 1) === 0);
    t.deepEqual(
      data.map((e) => [e.offset, e.length]),
      [[4 * MiB, MiB]],
    );
    t.is(
      map.reduce((sum, e) => sum + e.length, 0),
      16 * MiB,
    );
    await served.close();
  });
}

for (const kind of backendKinds) {
  test(`nbdcopy copies a sparse image in and out unchanged, keeping holes (${kind})`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'whorl-nbdcopy-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const source = join(dir, 'source.img');
    const target = join(dir, 'target.img');
    const handle = await open(source, 'w');
    await handle.truncate(64 * MiB);
    for (const offset of [0, 5 * MiB + 4096, 33 * MiB, 64 * MiB - 65536])
      await handle.write(randomBytes(65536), 0, 65536, offset);
    await handle.close();

    const served = await startServerOf(kind, 64 * MiB);
    await runOk('nbdcopy', [source, served.uri]);
    t.teardown(() => served.close());
    const extents = await served.backend.blockStatus(0, 64 * MiB);
    const dataBytes = extents.filter((extent) => !extent.hole).reduce((sum, extent) => sum + extent.lengthBytes, 0);
    t.true(dataBytes <= 8 * 65536, `holes stay holes in whorl (${dataBytes} bytes of data)`);
    await runOk('nbdcopy', [served.uri, target]);
    t.is(sha256(await readFile(target)), sha256(await readFile(source)));
    t.true((await stat(target)).blocks * 512 < 8 * MiB, 'holes stay holes in the copy out');
    await served.close();
    t.is(served.pool.leased, 0);
  });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
