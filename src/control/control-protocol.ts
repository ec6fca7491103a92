import type { WhorlErrorCode } from '../errors.js';
import type { ClusterView, VirtualDisk } from './catalog.js';

/**
 * Messages of the control actor.
 *
 *   | op          | kind    | from            | meaning                                            |
 *   |-------------|---------|-----------------|----------------------------------------------------|
 *   | view        | request | anyone          | the current ClusterView                            |
 *   | create      | request | admin           | a new virtual disk (durable before the answer)     |
 *   | resize      | request | admin           | grow a disk                                        |
 *   | delete      | request | admin           | forget a disk; answers its GMap so space is freed |
 *   | setStopped  | request | admin           | the operator takes a server out / lets it back     |
 *   | heartbeat   | tell    | server actor    | alive, with its incarnation                        |
 *   | suspect     | tell    | group, router   | a request to this server failed: treat it as down  |
 *   | recovered   | tell    | replica group   | copied what `server` missed in this group's units  |
 *   | progress    | tell    | replica group   | bytes left to copy for `server`, and the rate      |
 *
 * Pushed by the control actor as tells: `{ type: 'view', view }` to every subscriber and
 * `{ type: 'recover', server }` to the two groups that hold copies with a returning server.
 */
export type ControlRequest =
  | { readonly op: 'view' }
  | { readonly op: 'create'; readonly name: string; readonly sizeBytes: number; readonly replicas: 1 | 2; readonly stripeBytes: number }
  | { readonly op: 'resize'; readonly name: string; readonly sizeBytes: number }
  | { readonly op: 'delete'; readonly name: string }
  | { readonly op: 'setStopped'; readonly server: number; readonly stopped: boolean }
  | { readonly op: 'heartbeat'; readonly server: number; readonly incarnation: number }
  | { readonly op: 'suspect'; readonly server: number; readonly why: string }
  | { readonly op: 'recovered'; readonly group: number; readonly server: number; readonly round: number }
  | { readonly op: 'progress'; readonly group: number; readonly server: number; readonly bytesLeft: number; readonly bytesPerSecond: number };

export type ControlReply =
  | { readonly ok: true; readonly view: ClusterView; readonly disk?: VirtualDisk }
  | { readonly ok: false; readonly code: WhorlErrorCode; readonly message: string };

export type ControlPush =
  | { readonly type: 'view'; readonly view: ClusterView }
  | { readonly type: 'recover'; readonly server: number; readonly round: number };
