/**
 * Which copy of a block is right: the one whose write stamp is newer.
 *
 * Every write and trim a replica group sends carries a stamp, (term, seq): the group's term (a
 * number the control plane raises, durably, every time who coordinates the group's writes
 * changes: a restart, a failover, a new incarnation on another node) and a sequence number the
 * group's incarnation gives each write in the order it issues them. Both copies of one write get
 * the same stamp. A stripe unit's writes are coordinated by one group for the life of its global
 * map, so stamps order every write a block of a unit ever took, on any copy.
 *
 * Each copy stores, with each block's version (data, a hole, or lost) and in the same commit, the
 * stamp of the write that made it (region-entry.ts). From that durable state alone:
 *
 * - **A disk keeps the newer.** A write or trim applies to a block only when its stamp is newer
 *   than the block's stored one (an equal stamp is the same write again, and changes nothing). A
 *   copy write that arrives late, after a later write or trim of the block, changes nothing.
 * - **Recovery merges both ways.** It reads a region's blocks with their stamps on both copies and
 *   copies each block, with its stamp, to the copy whose version is older. Afterwards both hold,
 *   block by block, the newest write either held: a write one copy took alone (even one whose
 *   client saw it fail) is never taken back by a copy that lacked it, so a read never goes back
 *   in time.
 * - **Unstamped** requests (a disk used without a group) apply unconditionally, and so do changes
 *   stamped zero: stores from before stamps read as stamp zero, and between two such versions the
 *   busy bits and stale marks still choose, as Petal does.
 *
 * Busy bits and stale marks remain Petal's record of *which regions* may differ; stamps decide
 * *which version* of a block wins.
 */
export interface Stamp {
  readonly term: number;
  readonly seq: number;
}

/** The stamp of blocks stored before stamps, or written without one. */
export const unstamped: Stamp = { term: 0, seq: 0 };

/** The largest sequence number a stamp stores (48 bits: centuries of writes at a million a second). */
export const seqMax = 2 ** 48 - 1;

/** Negative when `a` is older than `b`, zero when equal, positive when newer. */
export function compareStamps(a: Stamp, b: Stamp): number {
  return a.term !== b.term ? a.term - b.term : a.seq - b.seq;
}

/**
 * Whether a change stamped `incoming` applies over a block stored with `stored` (undefined when
 * the block holds nothing at that epoch): the one rule of this file.
 */
export function applies(incoming: Stamp | undefined, stored: Stamp | undefined): boolean {
  if (incoming === undefined || stored === undefined) return true;
  const order = compareStamps(incoming, stored);
  return order > 0 || (order === 0 && incoming.term === 0 && incoming.seq === 0);
}

/**
 * Which way recovery copies a block between a region's two copies, from the stamps their reads
 * found (undefined: no version): 'forward' from the source the marks chose to the target, 'back'
 * from the target to the source, or nowhere when they hold the same version. The newer stamp
 * wins; where neither copy holds a stamped version (stores from before stamps) the marks choose,
 * as they did then: forward.
 */
export function mergeWay(source: Stamp | undefined, target: Stamp | undefined): 'forward' | 'back' | undefined {
  if (source === undefined && target === undefined) return undefined;
  if (isUnstamped(source) && isUnstamped(target)) return 'forward';
  const order = compareStamps(source ?? below, target ?? below);
  return order > 0 ? 'forward' : order < 0 ? 'back' : undefined;
}

/** Older than every stamp: no version at all. */
const below: Stamp = { term: -1, seq: 0 };

function isUnstamped(stamp: Stamp | undefined): boolean {
  return stamp === undefined || (stamp.term === 0 && stamp.seq === 0);
}
