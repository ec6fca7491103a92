import { WhorlError } from '../errors.js';
import { epochMax } from '../storage/block-keys.js';
import { diskNamePattern, snapshotSeparator, type Snapshot, type VirtualDisk } from '../model/catalog.js';

/**
 * The VDir side of Petal's snapshots (§2.2): pure functions from the control actor's disks to the
 * changed records, each refusing bad input with a WhorlError before anything changes.
 */
type Disks = ReadonlyMap<string, VirtualDisk>;

/** The disk's current epoch becomes the snapshot `name`; new writes go to the next epoch. */
export function takeSnapshot(
  disks: Disks,
  diskName: string,
  name: string,
  createdAtMs: number,
): { disk: VirtualDisk; snapshot: Snapshot } {
  const disk = existingDisk(disks, diskName);
  checkName('snapshot', name);
  if (disk.snapshots.some((snapshot) => snapshot.name === name))
    throw new WhorlError('WHORL_BAD_ARGUMENT', `disk '${disk.name}' already has a snapshot named '${name}'`);
  if (disk.epoch >= epochMax)
    throw new WhorlError('WHORL_BAD_ARGUMENT', `disk '${disk.name}' is at its last epoch (${epochMax})`);
  const snapshot: Snapshot = {
    name,
    gmap: disk.gmap,
    epoch: disk.epoch,
    base: disk.base,
    sizeBytes: disk.sizeBytes,
    createdAtMs,
  };
  return { disk: { ...disk, epoch: disk.epoch + 1, snapshots: [...disk.snapshots, snapshot] }, snapshot };
}

/** Forgets a snapshot; refused while a clone was made from it. */
export function dropSnapshot(disks: Disks, diskName: string, name: string): { disk: VirtualDisk; snapshot: Snapshot } {
  const disk = existingDisk(disks, diskName);
  const snapshot = existingSnapshot(disk, name);
  const full = `${disk.name}${snapshotSeparator}${name}`;
  const clones = [...disks.values()].filter((other) => other.origin === full).map((other) => `'${other.name}'`);
  if (clones.length > 0)
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `snapshot '${full}' is the origin of clone ${clones.join(', ')}; delete the clone first`,
    );
  return { disk: { ...disk, snapshots: disk.snapshots.filter((other) => other !== snapshot) }, snapshot };
}

/** Refuses to delete a disk while a clone of one of its snapshots exists. */
export function checkDeletable(disks: Disks, diskName: string): VirtualDisk {
  const disk = existingDisk(disks, diskName);
  for (const other of disks.values()) {
    if (other.origin?.startsWith(`${disk.name}${snapshotSeparator}`)) {
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `disk '${disk.name}' has snapshot '${other.origin}', the origin of clone '${other.name}'; delete the clone first`,
      );
    }
  }
  return disk;
}

/** The snapshot a clone would be made from (checked before a global map id is spent). */
export function cloneSource(disks: Disks, source: string, name: string): { disk: VirtualDisk; snapshot: Snapshot } {
  const at = source.indexOf(snapshotSeparator);
  if (at < 0)
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `clone source '${source}': name a snapshot as DISK${snapshotSeparator}NAME`,
    );
  const disk = existingDisk(disks, source.slice(0, at));
  const snapshot = existingSnapshot(disk, source.slice(at + 1));
  checkName('disk', name);
  if (disks.has(name)) throw new WhorlError('WHORL_BAD_ARGUMENT', `a virtual disk named '${name}' already exists`);
  return { disk, snapshot };
}

/** A new disk whose own global map starts empty over the snapshot's layers. */
export function makeClone(
  source: { disk: VirtualDisk; snapshot: Snapshot },
  name: string,
  gmap: number,
  createdAtMs: number,
): VirtualDisk {
  const { disk, snapshot } = source;
  return {
    name,
    gmap,
    servers: disk.servers,
    replicas: disk.replicas,
    stripeBytes: disk.stripeBytes,
    // The base layers are read on the servers that hold the snapshot: the clone keeps its layout.
    ...(disk.mirror ? { mirror: disk.mirror, protocol: disk.protocol } : {}),
    epoch: 0,
    sizeBytes: snapshot.sizeBytes,
    createdAtMs,
    base: [{ gmap: snapshot.gmap, epoch: snapshot.epoch }, ...snapshot.base],
    origin: `${disk.name}${snapshotSeparator}${snapshot.name}`,
    snapshots: [],
  };
}

/**
 * The disk reads as the snapshot again: a fresh global map over the snapshot's layers (the old
 * map keeps what the disk's other snapshots need; the rest is garbage).
 */
export function rollBack(disks: Disks, diskName: string, snapshotName: string, gmap: () => number): VirtualDisk {
  const disk = existingDisk(disks, diskName);
  const snapshot = existingSnapshot(disk, snapshotName);
  return {
    ...disk,
    gmap: gmap(),
    epoch: 0,
    sizeBytes: snapshot.sizeBytes,
    base: [{ gmap: snapshot.gmap, epoch: snapshot.epoch }, ...snapshot.base],
  };
}

export function existingDisk(disks: Disks, name: string): VirtualDisk {
  const disk = disks.get(name);
  if (!disk) throw new WhorlError('WHORL_EXPORT_NOT_FOUND', `no virtual disk named '${name}'`);
  return disk;
}

export function existingSnapshot(disk: VirtualDisk, name: string): Snapshot {
  const snapshot = disk.snapshots.find((candidate) => candidate.name === name);
  if (!snapshot) throw new WhorlError('WHORL_EXPORT_NOT_FOUND', `disk '${disk.name}' has no snapshot named '${name}'`);
  return snapshot;
}

function checkName(what: 'disk' | 'snapshot', name: string): void {
  if (typeof name !== 'string' || !diskNamePattern.test(name)) {
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `${what} name '${String(name)}': use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (no '@' or '/')`,
    );
  }
}
