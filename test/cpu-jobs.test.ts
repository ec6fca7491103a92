import test from 'ava';
import { randomBytes } from 'node:crypto';
import { BufferPool } from '../src/actors/buffer-pool.js';
import { CpuJobs } from '../src/actors/cpu-jobs.js';
import { crc32c } from '../src/actors/crc32c.js';

test('crc32c matches the standard check value', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(0)), 0);
});

test('CRC32C of 64 KiB slab ranges runs on piscina threads and matches the inline result', async (t) => {
  const pool = new BufferPool({ maxBytes: 64 * 1024 * 1024 });
  const jobs = new CpuJobs(pool, 2);
  t.teardown(() => jobs.close());
  const leases = Array.from({ length: 16 }, () => {
    const lease = pool.tryLease(65536)!;
    lease.bytes.set(randomBytes(65536));
    return lease;
  });
  const results = await Promise.all(leases.map((lease) => jobs.crc32c(lease.handle)));
  t.deepEqual(
    results,
    leases.map((lease) => crc32c(lease.bytes)),
  );
  for (const lease of leases) pool.release(lease.handle);
  t.is(pool.leased, 0);
});
