import type { Layer } from '../storage/versions.js';
import type { GMapLayout } from './layout.js';

export type { Layer } from '../storage/versions.js';

/**
 * The global state the control actor owns (Petal's VDir, GMaps and membership), as the other
 * actors and the front end see it.
 *
 *   | VirtualDisk field | meaning                                                   |
 *   |-------------------|-----------------------------------------------------------|
 *   | name              | the NBD export name                                       |
 *   | gmap, servers, replicas, stripeBytes | its GMap (see model/layout.ts)         |
 *   | epoch             | the epoch new writes go to (snapshots raise it)           |
 *   | sizeBytes         | what clients see; grows with resize                       |
 *   | createdAtMs       | wall-clock time of creation                               |
 *   | base              | layers read where the gmap has no version of a block: a   |
 *   |                   | clone's snapshot, or the snapshot a disk was rolled back to |
 *   | origin            | the snapshot ('DISK@NAME') a clone was made from          |
 *   | snapshots         | read-only exports of older epochs, oldest first           |
 *   | mirror, protocol  | CEFT mirror layout: servers per mirror group and how      |
 *   |                   | writes are duplicated (absent for chained declustering)   |
 *
 * A read of the disk finds, per block, the newest version at or below `epoch` in `gmap`, else in
 * each base layer in turn (Petal §2.2). Writes go to `gmap` at `epoch` only.
 */
export interface VirtualDisk extends GMapLayout {
  readonly name: string;
  readonly epoch: number;
  /**
   * The epoch after `epoch`, once it is on stable storage here: a snapshot may then move the disk
   * to it at once, before its own record is durable, because a control actor restarting from a
   * record that still names `epoch` moves the disk to this one (writes may already have used it).
   * Absent in records stored before reservations existed, and after an orderly stop.
   */
  readonly reservedEpoch?: number;
  readonly sizeBytes: number;
  readonly createdAtMs: number;
  readonly base: readonly Layer[];
  readonly origin?: string;
  readonly snapshots: readonly Snapshot[];
  readonly protocol?: DuplicationProtocol;
}

/**
 * How a mirror disk's writes reach both copies (CEFT-PVFS): the primary server duplicates
 * (server-*) or the front end writes both (client-*); sync answers when both copies have the
 * data, async when one has (the other follows in the background; FLUSH and FUA still wait for
 * both). `hybrid` drives from the front end while it has more connections than a mirror group has
 * servers, from the servers otherwise.
 */
export const duplicationProtocols = ['server-sync', 'server-async', 'client-sync', 'client-async', 'hybrid'] as const;
export type DuplicationProtocol = (typeof duplicationProtocols)[number];

/** A frozen epoch of a disk: what `gmap` held at `epoch`, then `base`, at `sizeBytes`. */
export interface Snapshot {
  readonly name: string;
  readonly gmap: number;
  readonly epoch: number;
  readonly base: readonly Layer[];
  readonly sizeBytes: number;
  readonly createdAtMs: number;
}

/** What an NBD export reads (and, unless read-only, writes): a disk or one of its snapshots. */
export interface ExportTarget extends GMapLayout {
  /** The export's name: DISK or DISK@SNAPSHOT. */
  readonly name: string;
  readonly disk: VirtualDisk;
  readonly snapshot?: Snapshot;
  readonly epoch: number;
  readonly base: readonly Layer[];
  readonly sizeBytes: number;
  readonly readOnly: boolean;
}

export const snapshotSeparator = '@';

/** The export a name stands for, or undefined. */
export function resolveExport(disks: readonly VirtualDisk[], name: string): ExportTarget | undefined {
  const at = name.indexOf(snapshotSeparator);
  const disk = disks.find((candidate) => candidate.name === (at < 0 ? name : name.slice(0, at)));
  if (!disk) return undefined;
  if (at < 0)
    return {
      ...layoutOf(disk),
      name,
      disk,
      epoch: disk.epoch,
      base: disk.base,
      sizeBytes: disk.sizeBytes,
      readOnly: false,
    };
  const snapshot = disk.snapshots.find((candidate) => candidate.name === name.slice(at + 1));
  if (!snapshot) return undefined;
  return {
    ...layoutOf(disk),
    gmap: snapshot.gmap,
    name,
    disk,
    snapshot,
    epoch: snapshot.epoch,
    base: snapshot.base,
    sizeBytes: snapshot.sizeBytes,
    readOnly: true,
  };
}

/** The base layers, only when there are any (most disks have none: keep their messages short). */
export function withBase(target: { readonly base: readonly Layer[] }): { base?: readonly Layer[] } {
  return target.base.length > 0 ? { base: target.base } : {};
}

function layoutOf(disk: VirtualDisk): GMapLayout {
  return {
    gmap: disk.gmap,
    servers: disk.servers,
    replicas: disk.replicas,
    stripeBytes: disk.stripeBytes,
    ...(disk.mirror ? { mirror: disk.mirror } : {}),
  };
}

/**
 * Every global map some export reads, with its layout, the epochs still read in it (ascending) and
 * its base layers (from the disk or snapshot it belongs to): versions no live epoch sees are
 * garbage; a gmap no export reads may be dropped.
 */
export function liveGmaps(
  disks: readonly VirtualDisk[],
): Map<number, { layout: GMapLayout; live: number[]; base: readonly Layer[] }> {
  const gmaps = new Map<number, { layout: GMapLayout; live: number[]; base: readonly Layer[] }>();
  const add = (disk: VirtualDisk, layer: Layer, base?: readonly Layer[]): void => {
    const entry = gmaps.get(layer.gmap) ?? { layout: { ...layoutOf(disk), gmap: layer.gmap }, live: [], base: [] };
    if (!entry.live.includes(layer.epoch)) entry.live.push(layer.epoch);
    if (base) entry.base = base;
    gmaps.set(layer.gmap, entry);
  };
  for (const disk of disks) {
    add(disk, disk, disk.base);
    for (const snapshot of disk.snapshots) add(disk, snapshot, snapshot.base);
    for (const layer of [...disk.base, ...disk.snapshots.flatMap((snapshot) => snapshot.base)]) add(disk, layer);
  }
  for (const entry of gmaps.values()) entry.live.sort((a, b) => a - b);
  return gmaps;
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
  /** Stopped: the groups whose other copy lacks none of its writes (`setStopped` with `cleanFor`). */
  readonly cleanFor?: readonly string[];
}

/**
 * Whether `server` is stopped with no stale mark in `group`'s regions (`cleanFor`): the group's
 * other copy lacks none of its writes, so it need not wait for this one to start.
 */
export function stoppedCleanFor(server: ServerStatus | undefined, group: string): boolean {
  return server?.state === 'stopped' && (server.cleanFor ?? []).includes(group);
}

/** What the control actor pushes to the router and the replica groups whenever it changes. */
export interface ClusterView {
  readonly version: number;
  /**
   * Which control actor made the view, when one may move between nodes: the monitor's fence
   * (etcd-storage.ts). A newer control actor's views supersede the older one's whatever their version.
   */
  readonly epoch?: number;
  readonly disks: readonly VirtualDisk[];
  readonly servers: readonly ServerStatus[];
  /**
   * Disks this control actor moved to their reserved epoch when it started (a crash before):
   * blocks their older epoch holds become garbage as they are overwritten (epoch-reservations.ts).
   */
  readonly resumed?: readonly string[];
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

/** Whether `next` supersedes `current`: a newer control epoch, or the same epoch and a higher version. */
export function newerView(next: ClusterView, current: ClusterView | undefined): boolean {
  if (!current) return true;
  const [nextEpoch, currentEpoch] = [next.epoch ?? 0, current.epoch ?? 0];
  return nextEpoch !== currentEpoch ? nextEpoch > currentEpoch : next.version > current.version;
}
