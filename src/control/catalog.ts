import type { GMapLayout } from '../volumes/layout.js';

/**
 * The global state the control actor owns (Petal's VDir, GMaps and membership), as the other
 * actors and the front end see it.
 *
 *   | VirtualDisk field | meaning                                                   |
 *   |-------------------|-----------------------------------------------------------|
 *   | name              | the NBD export name                                       |
 *   | gmap, servers, replicas, stripeBytes | its GMap (see volumes/layout.ts)       |
 *   | epoch             | the epoch new writes go to (snapshots raise it)           |
 *   | sizeBytes         | what clients see; grows with resize                       |
 *   | createdAtMs       | wall-clock time of creation                               |
 */
export interface VirtualDisk extends GMapLayout {
  readonly name: string;
  readonly epoch: number;
  readonly sizeBytes: number;
  readonly createdAtMs: number;
}

/**
 * A server as the control actor sees it. `stopped` is the operator's choice and survives
 * restarts; `down` is liveness (no heartbeat, or a request failed against it); `resyncing`
 * servers take writes but serve no reads until their replica groups have copied what they missed.
 */
export type ServerState = 'up' | 'resyncing' | 'down' | 'stopped';

export interface ServerStatus {
  readonly id: number;
  readonly state: ServerState;
  readonly incarnation: number;
  /** Bytes the replica groups still have to copy to this server, and their copy rate. */
  readonly resyncBytesLeft: number;
  readonly resyncBytesPerSecond: number;
}

/** What the control actor pushes to the router and the replica groups whenever it changes. */
export interface ClusterView {
  readonly version: number;
  readonly disks: readonly VirtualDisk[];
  readonly servers: readonly ServerStatus[];
}

/** A server may take writes (its copy is kept up to date). */
export function writable(state: ServerState | undefined): boolean {
  return state === 'up' || state === 'resyncing';
}

/** A server may serve reads (its copy is complete). */
export function readable(state: ServerState | undefined): boolean {
  return state === 'up';
}

export const diskNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
