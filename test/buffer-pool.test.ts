import test from 'ava';
import { Worker } from 'node:worker_threads';
import { BufferPool, slotBytesMax } from '../src/actors/buffer-pool.js';
import { isWhorlError } from '../src/errors.js';

test('leases come from size classes, are views of shared memory, and all come back', (t) => {
  const pool = new BufferPool({ maxBytes: 64 * 1024 * 1024 });
  const small = pool.tryLease(100)!;
  const page = pool.tryLease(4096)!;
  const big = pool.tryLease(1024 * 1024)!;
  t.is(small.bytes.length, 100);
  t.true(small.bytes.buffer instanceof SharedArrayBuffer);
  t.is(pool.leased, 3);
  small.bytes.fill(1);
  t.true(
    pool.view(small.handle).every((b) => b === 1),
    'a handle resolves to the same bytes',
  );
  for (const lease of [small, page, big]) pool.release(lease.handle);
  t.is(pool.leased, 0);
});

test('a stale handle is detected after its slot is reused', (t) => {
  const pool = new BufferPool({ maxBytes: slotBytesMax });
  const first = pool.tryLease(4096)!;
  pool.release(first.handle);
  const error = t.throws(() => pool.release(first.handle));
  t.true(isWhorlError(error, 'WHORL_STALE_HANDLE'));
  let reused = pool.tryLease(4096)!;
  const seen = new Set<number>();
  while (reused.handle.offsetBytes !== first.handle.offsetBytes && !seen.has(reused.handle.offsetBytes)) {
    seen.add(reused.handle.offsetBytes);
    reused = pool.tryLease(4096)!;
  }
  t.is(reused.handle.offsetBytes, first.handle.offsetBytes);
  t.not(reused.handle.generation, first.handle.generation);
  t.true(
    isWhorlError(
      t.throws(() => pool.view(first.handle)),
      'WHORL_STALE_HANDLE',
    ),
  );
});

test('the pool is bounded: past maxBytes a lease waits for a release', async (t) => {
  const pool = new BufferPool({ maxBytes: slotBytesMax });
  const whole = pool.tryLease(slotBytesMax)!;
  t.is(pool.tryLease(slotBytesMax), undefined);
  let granted = false;
  const waiting = pool.lease(slotBytesMax).then((lease) => {
    granted = true;
    return lease;
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.false(granted);
  pool.release(whole.handle);
  const lease = await waiting;
  t.true(granted);
  pool.release(lease.handle);
  t.is(pool.leased, 0);
});

test('another thread sees the same bytes through the slab, without copying', async (t) => {
  const pool = new BufferPool({ maxBytes: 64 * 1024 * 1024 });
  const lease = pool.tryLease(4096)!;
  lease.bytes.fill(7);
  const slab = pool.descriptors()[lease.handle.slab]!;
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const bytes = new Uint8Array(workerData.data, workerData.offset, 4096);
     const seen = bytes.every((b) => b === 7);
     bytes.fill(9);
     parentPort.postMessage(seen);`,
    { eval: true, workerData: { data: slab.data, offset: lease.handle.offsetBytes } },
  );
  const seen = await new Promise((resolve) => worker.once('message', resolve));
  await new Promise((resolve) => worker.once('exit', resolve));
  t.true(seen);
  t.true(
    lease.bytes.every((b) => b === 9),
    'writes by the worker are visible here',
  );
  pool.release(lease.handle);
});

test('a lease waiting on this thread is granted when another thread releases a slot', async (t) => {
  const pool = new BufferPool({ maxBytes: slotBytesMax });
  const whole = pool.tryLease(slotBytesMax)!;
  const waiting = pool.lease(slotBytesMax);
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     import(workerData.module).then(({ BufferPool }) => {
       const pool = BufferPool.attached();
       pool.attach(workerData.slabs);
       setTimeout(() => pool.release(workerData.handle), 20);
     });`,
    {
      eval: true,
      workerData: {
        module: new URL('../src/actors/buffer-pool.js', import.meta.url).href,
        slabs: pool.descriptors(),
        handle: whole.handle,
      },
    },
  );
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const lease = await waiting;
  t.is(lease.handle.offsetBytes, whole.handle.offsetBytes);
  t.not(lease.handle.generation, whole.handle.generation);
  pool.release(lease.handle);
  await exited;
  t.is(pool.leased, 0);
});
