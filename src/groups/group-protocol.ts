import type { BufferHandle } from '../actors/buffer-pool.js';
import type { DuplicationProtocol } from '../model/catalog.js';
import type { Answer } from '../storage/disk-protocol.js';
import type { Layer } from '../storage/versions.js';

/**
 * Requests a replica-group actor answers (from the router). Group `group-P` orders the writes of
 * every chained-declustering unit whose primary is server P (its secondary is P + 1 mod N); group
 * `mirror-P-M` those of every mirror-layout unit on the pair (P, M). Replies are typed per kind
 * (`GroupAnswers`); `complete` on a flush tells whether the primary's disk was flushed. A mirror
 * write carries its `duplication`; one answered with `lagging` (async) is followed by a `caught-up`
 * tell, and a writer that waited too long for that tell (it may be lost) asks with `lag-check`.
 *
 *   | op      | kind    | meaning                                                          |
 *   |---------|---------|------------------------------------------------------------------|
 *   | write   | request | blocks of one stripe unit: busy bit, both copies, answered when  |
 *   |         |         | every reachable copy has them (stale marks for the unreachable)  |
 *   | trim    | request | the same for blocks that become zeros                            |
 *   | flush   | request | the primary's disk flushed; remembers regions written before it |
 *   | flushed | tell    | flush `token` completed on every disk: clear those busy bits     |
 *   | lag-check | request | whether a write answered early has ended (`caught-up`) and   |
 *   |         |         | which copies lack it now (`missed`)                              |
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
      readonly duplication?: Duplication;
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
      readonly duplication?: Duplication;
    }
  | { readonly op: 'flush'; readonly token: number }
  | { readonly op: 'flushed'; readonly token: number }
  | {
      readonly op: 'lag-check';
      /** The write's `lagging` as the group answered it. */
      readonly seq: number;
      readonly incarnation: number;
      readonly gmap: number;
      readonly block: number;
      readonly count: number;
    };

export type GroupWrite = Extract<GroupRequest, { op: 'write' | 'trim' }>;

/** What a write or trim answers on success. */
export interface GroupWritten {
  /** Servers whose copy missed it (marked stale on the other). */
  readonly missed?: number[];
  /**
   * A mirror group's async write, answered while `server`'s copy is still being written; `seq`
   * (a number of the group's `incarnation`) names it in the `caught-up` that follows.
   */
  readonly lagging?: { readonly server: number; readonly seq: number; readonly incarnation: number };
}

/** What each kind of group request answers on success. */
export interface GroupAnswers {
  write: GroupWritten;
  trim: GroupWritten;
  /** Whether the primary's disk was flushed (not down). */
  flush: { readonly complete: boolean };
  flushed: object;
  /**
   * `caughtUp`: the write has ended, and `missed` lists the copies that lack it (or may: the
   * group holds them incomplete there now); else it is still being written, or, asked of a later
   * incarnation of the group, the copies of its regions may still differ.
   */
  'lag-check': { readonly caughtUp: boolean; readonly missed: readonly number[] };
}

export type GroupReplyTo<Op extends GroupRequest['op']> = Answer<GroupAnswers[Op]>;

/**
 * How a mirror group writes both copies (catalog.ts `DuplicationProtocol`): `server` asks the
 * primary server to write and forward to its mirror, `client` writes both disks itself; unless
 * `sync`, the answer may come when one copy has the data (the primary's, for `server`).
 */
export interface Duplication {
  readonly driver: 'server' | 'client';
  readonly sync: boolean;
}

/** How each protocol of a mirror disk duplicates; `hybrid` picks one of the sync two as it goes. */
export const duplications: Record<Exclude<DuplicationProtocol, 'hybrid'>, Duplication> = {
  'server-sync': { driver: 'server', sync: true },
  'server-async': { driver: 'server', sync: false },
  'client-sync': { driver: 'client', sync: true },
  'client-async': { driver: 'client', sync: false },
};

/**
 * Told to the writer of a write answered early (`lagging`), when the lagging copy has it or will
 * not: `missed` lists the servers whose copy lacks it (marked stale on the other).
 */
export interface CaughtUp {
  readonly type: 'caught-up';
  /** The group and the `seq` and `incarnation` of its answer's `lagging`. */
  readonly group: string;
  readonly seq: number;
  readonly incarnation: number;
  readonly missed: readonly number[];
}
