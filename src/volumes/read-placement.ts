import { duplications, type Duplication } from '../groups/group-protocol.js';
import { stoppedCleanFor, type ClusterView, type ExportTarget, type VirtualDisk } from '../model/catalog.js';
import { replicasOf, type Piece } from '../model/layout.js';
import type { Lag } from './lag.js';
import type { Suspicions } from './suspicions.js';

/**
 * Where the router sends a piece, from what it knows: pure functions of the view, its suspicions
 * and the lag of async copies (the router holds those; these decide).
 */

/** The copies of a piece a read may use now: readable in the view, not suspected, not lagging. */
export function readableNow(
  view: ClusterView | undefined,
  suspicions: Suspicions,
  lag: Lag,
  disk: ExportTarget,
  piece: Piece,
): number[] {
  return replicasOf(disk, piece.unit).filter(
    (server) => suspicions.readable(view, server) && !lag.lagging(disk.gmap, piece.block, piece.count, server),
  );
}

/**
 * Whether a copy of a unit of `group` not readable now may become so without an operator: not
 * stopped, and not resyncing from a partner stopped holding writes it lacks (not clean for the
 * group), which cannot finish until that partner starts.
 */
export function returning(view: ClusterView | undefined, replicas: readonly number[], group: string): boolean {
  const servers = view?.servers ?? [];
  const stoppedUnclean = (server: number): boolean =>
    servers[server]?.state === 'stopped' && !stoppedCleanFor(servers[server], group);
  return replicas.some((server) => {
    const state = servers[server]?.state;
    return (
      state !== 'stopped' &&
      !(state === 'resyncing' && replicas.some((other) => other !== server && stoppedUnclean(other)))
    );
  });
}

/** `candidates` in the order a read tries them: a copy on this host first, then the shorter queue. */
export function nearestFirst(
  candidates: number[],
  far: (server: number) => number,
  queueDepth: readonly number[],
): number[] {
  return candidates.sort((a, b) => far(a) - far(b) || queueDepth[a]! - queueDepth[b]!);
}

/**
 * How a mirror disk's writes are duplicated now. `hybrid` (CEFT): client-driven while the disk's
 * connections outnumber the servers of a mirror group, server-driven otherwise; both wait for both
 * copies.
 */
export function duplicationFor(disk: VirtualDisk, connections: number): Duplication | undefined {
  if (!disk.mirror || !disk.protocol) return undefined;
  if (disk.protocol !== 'hybrid') return duplications[disk.protocol];
  return connections > disk.mirror ? duplications['client-sync'] : duplications['server-sync'];
}
