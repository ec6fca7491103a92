/**
 * Which stored versions of one block the live epochs still see (Petal §2.2: a read at epoch e
 * finds the newest version at or below e). A version is data or a hole; a snapshot's deletion
 * leaves versions that no live epoch sees, and those are garbage.
 */
export interface Version {
  readonly epoch: number;
  readonly hole: boolean;
}

/** One layer of what an export reads: a global map as of an epoch (see model/catalog.ts). */
export interface Layer {
  readonly gmap: number;
  readonly epoch: number;
}

/** The version a read at `epoch` finds among `versions` (any order), or undefined. */
export function visibleAt(versions: readonly Version[], epoch: number): Version | undefined {
  let found: Version | undefined;
  for (const version of versions) {
    if (version.epoch <= epoch && (!found || version.epoch > found.epoch)) found = version;
  }
  return found;
}

/**
 * The versions some live epoch sees, and every version above the newest live epoch (written at an
 * epoch that became current after the caller learnt `live`: a snapshot taken while a collection
 * runs); every other version may be deleted.
 */
export function neededVersions(versions: readonly Version[], live: readonly number[]): Set<Version> {
  const newest = Math.max(-1, ...live);
  const needed = new Set<Version>(versions.filter((version) => version.epoch > newest));
  for (const epoch of live) {
    const version = visibleAt(versions, epoch);
    if (version) needed.add(version);
  }
  return needed;
}

/**
 * Whether the data version `epoch` sees is seen by no other live epoch: the bytes a snapshot
 * holds alone.
 */
export function heldAlone(versions: readonly Version[], epoch: number, live: readonly number[]): boolean {
  const mine = visibleAt(versions, epoch);
  if (!mine || mine.hole) return false;
  return live.every((other) => other === epoch || visibleAt(versions, other) !== mine);
}
