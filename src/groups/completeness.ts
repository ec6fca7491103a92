import { stoppedCleanFor, type ClusterView, type ServerState } from '../model/catalog.js';
import { regionKey } from '../model/region-key.js';
import type { MarkBook } from './mark-book.js';

export interface CompletenessDeps {
  readonly group: string;
  readonly primary: number;
  readonly secondary: number;
  /** The group's incarnation: one above zero restarted and forgot the marks it had set. */
  readonly incarnation: number;
  readonly view: () => ClusterView | undefined;
  readonly markBook: MarkBook;
  /** Servers seen restarted since recovery last reconciled them (replica-group.ts). */
  readonly restarted: ReadonlySet<number>;
  /** Regions (`gmap:region`) a failed write left unsettled (replica-group.ts). */
  readonly unsettled: ReadonlyMap<string, unknown>;
  /** Whether recovery has a round open for `server` (recovery.ts). */
  readonly awaiting: (server: number) => boolean;
}

/**
 * Whether a copy of a region may lack writes its partner holds: the group's one account of it,
 * from the view, the stale marks (mark-book.ts), the copies still being written by writes
 * answered early, and what a restarted group has not yet read again. The write path asks it
 * before writing a copy alone, the FLUSH path before vouching for one, and a failed write which
 * copy to settle from.
 */
export class Completeness {
  /**
   * Regions with a write answered early, by the copy still being written: until that copy has it
   * (or its loss is marked stale on the other), it lacks an acknowledged write and is incomplete
   * there (sim client-async --strict-flush seed 182: a FLUSH vouched for the lagging copy alone,
   * marking the region stale on it, and the write it had not yet received was lost).
   */
  readonly laggingIn = new Map<string, number>();
  /**
   * Servers a recovery pass of this incarnation listed the stale marks of and found none left
   * to copy. A group that restarted forgot the marks it had set: until then a copy the control
   * actor calls up may still lack writes its partner holds, so it is not written alone (sim
   * --whole-threads seed 2786: a FLUSH marked the primary stale when the secondary's flush
   * failed, the primary's thread died with the group, and the fresh group wrote the secondary
   * alone; recovery then found both copies stale and copied the primary's over acknowledged
   * writes).
   */
  readonly staleSettled = new Set<number>();

  constructor(private readonly deps: CompletenessDeps) {}

  /**
   * Why `server`'s copy of these regions must not be the only one written, or undefined: a copy
   * that is resyncing, or whose partner holds a stale mark for a region, lacks writes its partner
   * has. Writing it alone would leave each copy holding writes the other lacks, which no region
   * copy can merge: the region is unavailable until its complete copy is back.
   */
  incomplete(server: number, gmap: number, regions: readonly number[]): string | undefined {
    const state = this.state(server);
    if (state !== 'up') return `server ${server}, the only reachable copy, is ${state ?? 'unknown'}`;
    const behind = regions.find((region) => this.laggingIn.get(regionKey(gmap, region)) === server);
    if (behind !== undefined)
      return `server ${server} has not yet received a write to region ${behind} that was answered with its partner's copy`;
    const partner = this.partnerOf(server);
    const stale = regions.find((region) => this.deps.markBook.markedStale(partner, gmap, region));
    return stale === undefined
      ? undefined
      : `server ${server}, the only reachable copy, has not yet received region ${stale} from server ${partner}`;
  }

  /**
   * Why `server`'s copy must not be written (or vouched for by a FLUSH) alone: `incomplete`, or
   * this group restarted and has not yet settled its partner's stale marks (`staleSettled`).
   * Readers are not kept off such a copy (the control actor calls it up), so `settlingSource`
   * still goes by `incomplete`.
   */
  aloneUnsafe(server: number, gmap: number, regions: readonly number[]): string | undefined {
    const why = this.incomplete(server, gmap, regions);
    const partner = this.partnerOf(server);
    if (why !== undefined || !this.marksForgotten(partner)) return why;
    return `server ${server}, the only reachable copy, may lack writes server ${partner} holds: this group restarted and has not yet read server ${partner}'s stale marks`;
  }

  /**
   * The copy recovery makes the other equal to after a write failed having landed on `holders`:
   * the copy readers use from now on. That is the lone holder when it is complete or the write
   * was answered early (a reader may already have seen the write there), but its partner when
   * it is not: readers keep off an incomplete copy (resyncing, or short of a stale region), so
   * they saw the partner's data, and copying the holder's would take their view back in time
   * (sim server-async seed 10).
   */
  settlingSource(
    holders: readonly number[],
    gmap: number,
    regions: readonly number[],
    answered: boolean,
  ): number | undefined {
    if (holders.length !== 1) return undefined;
    const holder = holders[0]!;
    return answered || this.completeHere(holder, gmap, regions) ? holder : this.partnerOf(holder);
  }

  /**
   * The regions of `regions` where either copy may lack a write its partner holds: all of them
   * while a copy is not up, restarted since recovery reconciled it, or may have forgotten marks;
   * else those where a copy is `incomplete` or a failed write left the copies unsettled. A trim
   * leaves stamped holes there even over blocks that held nothing (storage/block-store.ts): where
   * a copy holds nothing and its partner an older write, only the hole tells recovery's merge
   * which is newer (sim server-sync --strict-flush seed 7231: a trim sent to the primary alone
   * left no trace of itself, and the merge put back a failed write that had reached only the
   * secondary over it).
   */
  mayDiffer(gmap: number, regions: readonly number[]): readonly number[] {
    const { primary, secondary } = this.deps;
    const wholly = [primary, secondary].some(
      (server) => this.state(server) !== 'up' || this.deps.restarted.has(server) || this.marksForgotten(server),
    );
    if (wholly) return regions;
    return regions.filter(
      (region) =>
        this.deps.unsettled.has(regionKey(gmap, region)) ||
        this.incomplete(primary, gmap, [region]) !== undefined ||
        this.incomplete(secondary, gmap, [region]) !== undefined,
    );
  }

  /** Both copies up and neither lacking writes the other has: a write may be answered with one. */
  bothComplete(gmap: number, regions: readonly number[]): boolean {
    const { primary, secondary } = this.deps;
    return (
      this.incomplete(primary, gmap, regions) === undefined && this.incomplete(secondary, gmap, regions) === undefined
    );
  }

  /**
   * Whether `server`'s copy of these regions lacks no write its partner holds. A server stays
   * resyncing until both its groups have copied to it; one this group has no round open for (and
   * that did not restart) is complete in this group's regions unless a stale mark says otherwise,
   * and readers will read it as soon as the other group is done (sim --whole-threads seed 4569:
   * the group settled a failed write from the partner, a reader saw the write on the holder
   * once the server came up, and the copy then took it away).
   */
  private completeHere(server: number, gmap: number, regions: readonly number[]): boolean {
    if (this.state(server) !== 'resyncing' || this.deps.awaiting(server) || this.deps.restarted.has(server))
      return this.incomplete(server, gmap, regions) === undefined;
    const partner = this.partnerOf(server);
    return (
      !this.marksForgotten(partner) && !regions.some((region) => this.deps.markBook.markedStale(partner, gmap, region))
    );
  }

  /**
   * Whether this group restarted and may have forgotten stale marks on `partner`: none settled by
   * a recovery pass since, and not stopped clean for the group (which holds none and gets none).
   */
  private marksForgotten(partner: number): boolean {
    return (
      this.deps.incarnation > 0 &&
      !this.staleSettled.has(partner) &&
      !stoppedCleanFor(this.deps.view()?.servers[partner], this.deps.group)
    );
  }

  private state(server: number): ServerState | undefined {
    return this.deps.view()?.servers[server]?.state;
  }

  private partnerOf(server: number): number {
    return server === this.deps.primary ? this.deps.secondary : this.deps.primary;
  }
}
