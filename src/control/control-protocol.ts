import type { WhorlErrorCode } from '../errors.js';
import type { ClusterView, DuplicationProtocol, Snapshot, VirtualDisk } from '../model/catalog.js';

/**
 * Messages of the control actor.
 *
 *   | op          | kind    | from            | meaning                                            |
 *   |-------------|---------|-----------------|----------------------------------------------------|
 *   | view        | request | anyone          | the current ClusterView                            |
 *   | subscribe   | request | a node's router | the view now, and every view after it (pushed);    |
 *   |             |         |                 | repeated, as a control actor forgets it on restart |
 *   | create      | request | admin           | a new virtual disk (durable before the answer)     |
 *   | resize      | request | admin           | grow a disk                                        |
 *   | set         | request | admin           | a mirror disk's duplication protocol               |
 *   | delete      | request | admin           | forget a disk; answers its GMap so space is freed |
 *   | snapshot    | request | admin           | freeze the disk's epoch as DISK@NAME; writes go on |
 *   |             |         |                 | in the next epoch (the router holds writes around) |
 *   | unsnapshot  | request | admin           | forget a snapshot (refused while a clone uses it)  |
 *   | clone       | request | admin           | a new disk reading a snapshot under its own writes |
 *   | rollback    | request | admin           | the disk reads as the snapshot again (a new gmap)  |
 *   | setStopped  | request | admin           | the operator takes a server out / lets it back     |
 *   | term        | request | replica group   | a new term for `group`, above every one handed out |
 *   |             |         |                 | before (durable before the answer, in `term`)      |
 *   | heartbeat   | tell    | server actor    | alive, with its incarnation                        |
 *   | suspect     | tell    | group, router   | a request to this server failed: treat it as down  |
 *   | recovered   | tell    | replica group   | copied what `server` missed in this group's units  |
 *   | progress    | tell    | replica group   | bytes left to copy for `server`, and the rate      |
 *
 * Groups are named by actor: `group-P` (chained) or `mirror-P-M` (a mirror pair).
 *
 * Pushed by the control actor as tells: `{ type: 'view', view }` to every subscriber and
 * `{ type: 'recover', server }` to the groups that hold copies with a returning server.
 */
export type ControlRequest =
  | { readonly op: 'view' }
  | { readonly op: 'subscribe' }
  | { readonly op: 'term'; readonly group: string }
  | {
      readonly op: 'create';
      readonly name: string;
      readonly sizeBytes: number;
      readonly replicas: 1 | 2;
      readonly stripeBytes: number;
      /** Servers per mirror group: the mirror layout (with `protocol`) instead of chained declustering. */
      readonly mirror?: number;
      readonly protocol?: DuplicationProtocol;
    }
  | { readonly op: 'resize'; readonly name: string; readonly sizeBytes: number }
  | { readonly op: 'set'; readonly name: string; readonly protocol: DuplicationProtocol }
  | { readonly op: 'delete'; readonly name: string }
  | { readonly op: 'snapshot'; readonly disk: string; readonly name: string }
  | { readonly op: 'unsnapshot'; readonly disk: string; readonly name: string }
  | { readonly op: 'clone'; readonly source: string; readonly name: string }
  | { readonly op: 'rollback'; readonly disk: string; readonly snapshot: string }
  /** Answers once every change made before it is on stable storage (a snapshot answered before its record was). */
  | { readonly op: 'sync' }
  /** An orderly stop: no write will use a reserved epoch any more (epoch-reservations.ts). */
  | { readonly op: 'release' }
  /**
   * `cleanFor` (with `stopped`): the server's actor is gone, and its disk holds no stale mark in
   * these groups' regions: their other copy lacks none of its writes, and their recovery need not
   * read its marks (which a stopped disk cannot list) to call that copy complete.
   */
  | {
      readonly op: 'setStopped';
      readonly server: number;
      readonly stopped: boolean;
      readonly cleanFor?: readonly string[];
    }
  | { readonly op: 'heartbeat'; readonly server: number; readonly incarnation: number }
  /** `code`: the failure seen. WHORL_UNREACHABLE (the server's node is cut off or gone) is left to heartbeats. */
  | { readonly op: 'suspect'; readonly server: number; readonly why: string; readonly code: WhorlErrorCode }
  | { readonly op: 'recovered'; readonly group: string; readonly server: number; readonly round: number }
  | {
      readonly op: 'progress';
      readonly group: string;
      readonly server: number;
      readonly bytesLeft: number;
      readonly bytesPerSecond: number;
    };

export type ControlReply =
  | {
      readonly ok: true;
      readonly view: ClusterView;
      readonly disk?: VirtualDisk;
      readonly snapshot?: Snapshot;
      /** `term`: the group's new term. */
      readonly term?: number;
    }
  | { readonly ok: false; readonly code: WhorlErrorCode; readonly message: string };

export type ControlPush =
  | { readonly type: 'view'; readonly view: ClusterView }
  | { readonly type: 'recover'; readonly server: number; readonly round: number };
