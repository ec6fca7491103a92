import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { BufferHandle, BufferPool } from './buffer-pool.js';
import type { Crc32cTask } from './cpu-job-worker.js';

/** Jobs queued beyond the running ones; past this, callers wait (backpressure) instead of queueing more. */
export const cpuJobsQueuedMax = 1024;

/**
 * Stateless CPU work off the hot path (scrub and resync checksums, later compression), on a
 * piscina pool. Long-lived stateful actors do not live here. Payloads go by shared handle.
 */
export class CpuJobs {
  private readonly piscina: Piscina;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly pool: BufferPool,
    threads = Math.max(1, os.availableParallelism() - 1),
  ) {
    this.piscina = new Piscina({
      filename: fileURLToPath(new URL('./cpu-job-worker.js', import.meta.url)),
      minThreads: 1,
      maxThreads: threads,
      maxQueue: cpuJobsQueuedMax,
    });
  }

  /** CRC32C of the bytes behind a handle (the handle stays leased by the caller). */
  async crc32c(handle: BufferHandle): Promise<number> {
    this.pool.view(handle);
    const slab = this.pool.descriptors()[handle.slab]!;
    const task: Crc32cTask = { data: slab.data, offsetBytes: handle.offsetBytes, lengthBytes: handle.lengthBytes };
    return (await this.piscina.run(task)) as number;
  }

  /**
   * Runs the default export of another job module (an absolute path of compiled JS) with `task`:
   * for stateless work that belongs to a later layer (e.g. storage scrub).
   */
  async run<T>(jobModule: string, task: unknown): Promise<T> {
    return (await this.piscina.run(task, { filename: jobModule })) as T;
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.piscina.destroy();
    return this.closing;
  }
}
