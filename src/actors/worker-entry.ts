import { parentPort, workerData } from 'node:worker_threads';
import { assertNever } from '../assert.js';
import { createLogger, type LogFormat } from '../log.js';
import { loadBehavior, openStorage } from './behavior-spec.js';
import { BufferPool } from './buffer-pool.js';
import type { FromWorker, ToWorker } from './control.js';
import { MemoryStorage } from './memory-storage.js';
import { ThreadHost } from './thread-host.js';

/** A worker thread of the actor runtime: one ThreadHost, driven by control messages. */
const { node, thread, logLevel, logFormat } = workerData as {
  node: string;
  thread: number;
  logLevel: string;
  logFormat: LogFormat;
};
const log = createLogger(logLevel, { name: 'whorl', thread }, logFormat);
const pool = BufferPool.attached();
const host = new ThreadHost(node, thread, log, () => pool);
const port = parentPort!;

async function spawn(message: Extract<ToWorker, { type: 'spawn' }>): Promise<void> {
  try {
    const behavior = await loadBehavior(message.spec);
    const storage = message.storage ? await openStorage(message.storage) : new MemoryStorage();
    host.spawn(message.actor, behavior, storage, message.incarnation);
    port.postMessage({ type: 'spawned', actor: message.actor } satisfies FromWorker);
  } catch (error) {
    port.postMessage({
      type: 'spawned',
      actor: message.actor,
      error: error instanceof Error ? error.message : String(error),
    } satisfies FromWorker);
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'peer':
      return host.connectPeer(message.thread, message.port, message.ends);
    case 'place':
      return host.place(message.actor, message.thread < 0 ? undefined : message.thread);
    case 'locate':
      return host.locate(message.actor, message.node);
    case 'slabs':
      return pool.attach(message.slabs);
    case 'spawn':
      void spawn(message);
      return;
    case 'stop':
      // Storage is closed (every write on disk) before the port: then nothing holds the event
      // loop and the thread exits by itself. Terminating it mid-write would be unsafe.
      void host.stopAll().finally(() => port.close());
      return;
    case 'retire':
      void host
        .retire(message.actor)
        .then(() => port.postMessage({ type: 'retired', actor: message.actor } satisfies FromWorker));
      return;
    case 'die':
      process.exit(70);
      return;
    default:
      return assertNever(message, 'control message');
  }
});
