import type { BufferHandle } from '../actors/buffer-pool.js';
import type { Layer } from '../storage/versions.js';

/**
 * Requests a replica-group actor answers (from the router). Group g orders the writes of every
 * stripe unit whose primary is server g; its secondary is server g + 1 (mod N). Every reply is a
 * DiskReply; `complete` on a flush tells whether the primary's disk was flushed.
 *
 *   | op      | kind    | meaning                                                          |
 *   |---------|---------|------------------------------------------------------------------|
 *   | write   | request | blocks of one stripe unit: busy bit, both copies, answered when  |
 *   |         |         | every reachable copy has them (stale marks for the unreachable)  |
 *   | trim    | request | the same for blocks that become zeros                            |
 *   | flush   | request | the primary's disk flushed; remembers regions written before it |
 *   | flushed | tell    | flush `token` completed on every disk: clear those busy bits     |
 *
 * Also received as tells from the control actor: `view` and `recover` (control-protocol.ts).
 */
export type GroupRequest =
  | {
      readonly op: 'write';
      readonly gmap: number;
      readonly epoch: number;
      readonly replicas: 1 | 2;
      readonly block: number;
      readonly count: number;
      readonly handle: BufferHandle;
      readonly fua: boolean;
    }
  | {
      readonly op: 'trim';
      readonly gmap: number;
      readonly epoch: number;
      readonly replicas: 1 | 2;
      readonly block: number;
      readonly count: number;
      readonly fua: boolean;
      /** A clone's base layers: its holes must hide them (disk-protocol.ts). */
      readonly base?: readonly Layer[];
    }
  | { readonly op: 'flush'; readonly token: number }
  | { readonly op: 'flushed'; readonly token: number };

export type GroupWrite = Extract<GroupRequest, { op: 'write' | 'trim' }>;
