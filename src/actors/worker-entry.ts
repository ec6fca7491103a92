import { parentPort, workerData } from 'node:worker_threads';
import { assertNever } from '../assert.js';
import { createLogger } from '../log.js';
import { loadBehavior } from './behavior-spec.js';
import { BufferPool } from './buffer-pool.js';
import type { FromWorker, ToWorker } from './control.js';
import { MemoryStorage } from './memory-storage.js';
import { ThreadHost } from './thread-host.js';
import { setThreadPool } from './thread-pool.js';

/** A worker thread of the actor runtime: one ThreadHost, driven by control messages. */
const { node, thread, logLevel } = workerData as { node: string; thread: number; logLevel: string };
const log = createLogger(logLevel, { name: 'whorl', thread });
const host = new ThreadHost(node, thread, log);
const pool = BufferPool.attached();
setThreadPool(pool);
const port = parentPort!;

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'peer':
      return host.connectPeer(message.thread, message.port, message.ends);
    case 'place':
      return host.place(message.actor, message.thread);
    case 'slabs':
      return pool.attach(message.slabs);
    case 'spawn':
      loadBehavior(message.spec).then(
        (behavior) => {
          host.spawn(message.actor, behavior, new MemoryStorage(), message.incarnation);
          port.postMessage({ type: 'spawned', actor: message.actor } satisfies FromWorker);
        },
        (error: unknown) => port.postMessage({ type: 'spawned', actor: message.actor, error: String(error) } satisfies FromWorker),
      );
      return;
    case 'stop':
      host.stopAll();
      // Nothing left holds the event loop: the thread exits by itself once pending I/O is done.
      port.close();
      return;
    case 'die':
      process.exit(70);
      return;
    default:
      return assertNever(message, 'control message');
  }
});
