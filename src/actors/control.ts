import type { MessagePort } from 'node:worker_threads';
import type { BehaviorSpec, StorageSpec } from './behavior-spec.js';
import type { SlabDescriptor } from './buffer-pool.js';
import type { RingChannelEnds } from './ring-channel.js';

/**
 * Control messages between the runtime (main thread) and a worker thread's host.
 *
 *   | type    | direction     | meaning                                                    |
 *   |---------|---------------|------------------------------------------------------------|
 *   | peer    | main → worker | a channel to another thread: port (transferred), rings    |
 *   | place   | main → worker | actor now runs on thread                                   |
 *   | locate  | main → worker | actor runs on another node (node absent: no longer)        |
 *   | spawn   | main → worker | open its storage, build actor from spec, this incarnation |
 *   | slabs   | main → worker | shared buffer slabs to attach                              |
 *   | stop    | main → worker | stop every actor, then let the thread exit by itself       |
 *   | retire  | main → worker | stop one actor and close its storage (it may start again)  |
 *   | die     | main → worker | test hook: the thread exits abruptly                       |
 *   | spawned | worker → main | the actor is running (or error: why it is not)             |
 *   | retired | worker → main | the actor is stopped and its storage closed                |
 */
export type ToWorker =
  | { readonly type: 'peer'; readonly thread: number; readonly port: MessagePort; readonly ends: RingChannelEnds }
  | { readonly type: 'place'; readonly actor: string; readonly thread: number }
  | { readonly type: 'locate'; readonly actor: string; readonly node?: string }
  | {
      readonly type: 'spawn';
      readonly actor: string;
      readonly spec: BehaviorSpec;
      readonly storage?: StorageSpec;
      readonly incarnation: number;
    }
  | { readonly type: 'slabs'; readonly slabs: SlabDescriptor[] }
  | { readonly type: 'stop' }
  | { readonly type: 'retire'; readonly actor: string }
  | { readonly type: 'die' };

export type FromWorker =
  | { readonly type: 'spawned'; readonly actor: string; readonly error?: string }
  | { readonly type: 'retired'; readonly actor: string };
