import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { clusterDirectory, startCluster } from './helpers/cluster.js';
import { whorlBin } from './helpers/daemon.js';
import { run, runOk } from './helpers/run.js';
import { scratchDirectory } from './helpers/scratch.js';

test('whorl serve --disk A --disk B: one server per disk, both copies of every block on the two disks, and the disks cannot move', async (t) => {
  const disks = [scratchDirectory('whorl-disk-a-'), scratchDirectory('whorl-disk-b-')].map((dir) =>
    path.join(dir, 'whorl'),
  );
  const dataDir = clusterDirectory();
  const args = disks.flatMap((disk) => ['--disk', disk]);
  const cluster = await startCluster({ dataDir, args });
  try {
    const servers = await cluster.json<Array<{ id: number; state: string }>>(['server', 'list']);
    t.deepEqual(
      servers.map((server) => server.state),
      ['up', 'up'],
      'two servers: one per --disk',
    );
    const data = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.fill(i / 4096 + 1, i, i + 4096);
    const file = path.join(scratchDirectory('whorl-disk-data-'), 'data');
    fs.writeFileSync(file, data);
    await runOk('nbdcopy', [file, cluster.uri()]);
    const report = await cluster.json<{ comparedBytes: number; differing: unknown[] }>(['disk', 'verify', 'default']);
    t.deepEqual(report.differing, []);
    t.true(
      report.comparedBytes >= data.length,
      `both disks hold the ${data.length} bytes: compared ${report.comparedBytes}`,
    );
  } finally {
    await cluster.stop();
  }
  for (const disk of disks) t.true(fs.existsSync(path.join(disk, 'data.mdb')), `${disk} is a server's disk`);
  t.false(fs.existsSync(path.join(dataDir, 'servers')), 'nothing under the data directory');

  const moved = await run(process.execPath, [
    whorlBin,
    'serve',
    '--data-dir',
    dataDir,
    ...[...disks].reverse().flatMap((disk) => ['--disk', disk]),
  ]);
  t.not(moved.code, 0);
  t.regex(moved.stderr, /was created with --disk .* this start gives --disk .*a server's disk cannot move/);
  const dropped = await run(process.execPath, [whorlBin, 'serve', '--data-dir', dataDir]);
  t.not(dropped.code, 0);
  t.regex(dropped.stderr, /this start gives no --disk/);
  const again = await startCluster({ dataDir, args });
  try {
    const report = await again.json<{ differing: unknown[] }>(['disk', 'verify', 'default']);
    t.deepEqual(report.differing, [], 'the same --disk paths serve the same data');
  } finally {
    await again.stop();
  }
});
