import { fileURLToPath } from 'node:url';
import type { ActorRuntime } from '../actors/runtime.js';
import type { OpenDiskOptions } from './disk-format.js';

const diskActorModule = fileURLToPath(new URL('./disk-actor.js', import.meta.url));
const diskFormatModule = fileURLToPath(new URL('./disk-format.js', import.meta.url));

/**
 * Starts a disk actor named `actor` whose LMDB environment is opened (and checked) on the worker
 * thread that runs it. Rejects, starting nothing, when the disk cannot be opened.
 */
export function spawnDisk(
  runtime: ActorRuntime,
  actor: string,
  disk: OpenDiskOptions,
  thread?: number,
  incarnation = 0,
): Promise<void> {
  return runtime.spawn(
    actor,
    { module: diskActorModule, export: 'diskActor', args: [{ capacityBytes: disk.capacityBytes }] },
    thread,
    { module: diskFormatModule, export: 'openDiskStorage', args: [disk] },
    incarnation,
  );
}
