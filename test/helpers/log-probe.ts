import { fileURLToPath } from 'node:url';
import type { Actor } from '../../src/actors/actor.js';
import { address } from '../../src/actors/address.js';
import { ActorRuntime } from '../../src/actors/runtime.js';
import { createLogger } from '../../src/log.js';

/** Run as a child process: makes an actor on a worker thread crash once, so its log line can be read. */
const behaviors = fileURLToPath(new URL('./behaviors.js', import.meta.url));
const runtime = await ActorRuntime.start({ threads: 1, log: createLogger('info'), logLevel: 'info' });
await runtime.spawn('logger', { module: behaviors, export: 'testActor' });
await new Promise<void>((resolve) => {
  runtime.spawnLocal('probe', (context): Actor => {
    context.request(address(runtime.node, 'logger'), { op: 'boom' }, 2000);
    return { receive: () => resolve() };
  });
});
await runtime.stop();
