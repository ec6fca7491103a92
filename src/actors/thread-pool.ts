import { assert } from '../assert.js';
import type { BufferPool } from './buffer-pool.js';

let current: BufferPool | undefined;

/** The shared buffer pool as this thread sees it (set by the runtime or the worker entry). */
export function threadPool(): BufferPool {
  assert(current, 'no buffer pool on this thread');
  return current;
}

export function setThreadPool(pool: BufferPool): void {
  current = pool;
}
