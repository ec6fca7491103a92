import { fileURLToPath } from 'node:url';
import type { ActorRuntime } from '../actors/runtime.js';
import { spawnDisk } from '../storage/spawn-disk.js';

/** The timings every cluster's actors run with, one host or several. */
export const heartbeatMs = 200;
export const heartbeatTimeoutMs = 1500;
export const diskTimeoutMs = 10_000;
export const requestTimeoutMs = 12_000;
/** 64 KiB buffers each replica group owns for recovery copies. */
export const copyHandlesPerGroup = 4;

/** The compiled module of an actor, for a BehaviorSpec (`file` relative to src/cluster/). */
export const actorModule = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/**
 * Starts server `id`: its disk actor (the LMDB environment at `path`, opened on `thread`) and the
 * server actor in front of it, on the same thread. `commits` shares the disk's count of writes not
 * yet committed with direct reads (storage/direct-reads.ts), where there are any. `incarnation`:
 * the first incarnation of both actors (a node process starts above every earlier process's, so
 * that its peers see its servers restarted: membership.ts).
 */
export async function spawnServer(
  runtime: ActorRuntime,
  id: number,
  disk: { readonly path: string; readonly capacityBytes: number; readonly commits?: SharedArrayBuffer },
  thread: number,
  incarnation = 0,
): Promise<void> {
  await spawnDisk(
    runtime,
    `disk-${id}`,
    {
      path: disk.path,
      owner: `server-${id}`,
      capacityBytes: disk.capacityBytes,
      create: true,
      ...(disk.commits ? { commits: disk.commits } : {}),
    },
    thread,
    incarnation,
  );
  await runtime.spawn(
    `server-${id}`,
    {
      module: actorModule('../servers/server-actor.js'),
      export: 'serverActor',
      args: [{ id, heartbeatMs, diskTimeoutMs }],
    },
    thread,
    undefined,
    incarnation,
  );
}
