import test from 'ava';
import { run } from './helpers/run.js';
import { backendKinds, startServerOf } from './helpers/server.js';

const MiB = 1024 * 1024;

// One at a time: seven embedded clusters and seven fio jobs at once starve this 2-core machine,
// and there a mirror write 1m run now and then got EIO (2 of 5 CI runs on 2026-11-21; the cause
// under that starvation is not diagnosed: see the closing note of that day).
for (const [kind, rw, bs] of backendKinds.flatMap(
  (kind) =>
    [
      [kind, 'randwrite', '4k'],
      [kind, 'write', '1m'],
    ] as const,
)) {
  test.serial(`fio's nbd engine ${rw} ${bs} at depth 16 verifies with crc32c (${kind})`, async (t) => {
    const served = await startServerOf(kind, 64 * MiB);
    const result = await run('fio', [
      '--name=verify',
      '--ioengine=nbd',
      `--uri=${served.uri}`,
      `--rw=${rw}`,
      `--bs=${bs}`,
      '--iodepth=16',
      '--size=32M',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      '--output-format=json',
    ]);
    t.is(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{')));
    const job = report.jobs[0];
    t.is(job.error, 0);
    t.is(job.write.io_bytes, 32 * MiB);
    t.is(job.read.io_bytes, 32 * MiB, 'every written block was read back and verified');
    await served.close();
    t.is(served.pool.leased, 0);
  });
}
