import { liveGmaps, writable, type ClusterView, type Layer } from '../model/catalog.js';
import { ordererOf, unitOfRegion, type GMapLayout } from '../model/layout.js';
import { parseRegionKey, regionKey } from '../model/region-key.js';
import type { MarkKind } from '../storage/block-keys.js';
import type { MergeCopy } from './region-merge.js';

/**
 * A global map's layout, the epochs some export still reads in it (a region is copied in each)
 * and its base layers (a clone reads through to its snapshot: the copy reads and trims as it does).
 */
export type LiveGmap = GMapLayout & { readonly live: readonly number[]; readonly base: readonly Layer[] };

/** One region to copy from one copy to the other, and the marks that the copy settles. */
export interface Copy extends MergeCopy {
  readonly disk: LiveGmap;
  readonly clears: Array<{ server: number; kind: MarkKind }>;
}

/** What a recovery pass plans from (recovery.ts). */
export interface PlanInputs {
  /** The group's actor name: it recovers the units it orders (`ordererOf`). */
  readonly group: string;
  readonly primary: number;
  readonly secondary: number;
  /** The marks the pass listed on each copy. */
  readonly found: ReadonlyArray<{
    server: number;
    kind: MarkKind;
    marks: ReadonlyArray<{ gmap: number; region: number }>;
  }>;
  /** Stale marks the group has set or is setting (a listing may have missed them). */
  readonly knownStale: ReadonlyArray<{ server: number; gmap: number; region: number }>;
  /** Regions a failed write may have left different, with the copy to settle them from. */
  readonly unsettled: ReadonlyMap<string, number | undefined>;
  /** Servers that restarted since recovery last reconciled them. */
  readonly restarted: ReadonlySet<number>;
  readonly log: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * What to copy where. A stale mark names the copy that holds writes its partner lacks, so it
 * decides the direction; a busy bit alone (a write may have reached one copy) matters only when a
 * copy is out or restarted, and is copied from the copy that did not restart (a restart may have
 * lost or torn its unflushed writes), else from the copy that stayed up. Both copies stale cannot be merged
 * region-wise; the group never writes a lone copy that its partner's stale mark says is incomplete
 * (replica-group.ts), so this is logged as a broken invariant and the primary wins.
 */
export function planCopies(view: ClusterView, inputs: PlanInputs): Copy[] {
  const { primary, secondary, group, found } = inputs;
  const ours = (disk: LiveGmap | undefined, region: number): disk is LiveGmap =>
    disk !== undefined && disk.replicas === 2 && ordererOf(disk, unitOfRegion(disk, region)) === group;
  const disks = new Map(
    [...liveGmaps(view.disks)].map(([gmap, { layout, live, base }]): [number, LiveGmap] => [
      gmap,
      { ...layout, live, base },
    ]),
  );
  const state = (server: number) => view.servers[server]?.state;
  const regions = new Map<
    string,
    { disk: LiveGmap; region: number; staleOn: Set<number>; clears: Array<{ server: number; kind: MarkKind }> }
  >();
  for (const { server, kind, marks } of found) {
    for (const { gmap, region } of marks) {
      const disk = disks.get(gmap);
      if (!ours(disk, region)) continue;
      const key = regionKey(gmap, region);
      const entry = regions.get(key) ?? { disk, region, staleOn: new Set<number>(), clears: [] };
      if (kind === 'stale') entry.staleOn.add(server);
      entry.clears.push({ server, kind });
      regions.set(key, entry);
    }
  }
  // A stale mark on its way to a disk when the listing was answered (messages may be reordered)
  // still decides the direction: without it a busy bit alone would copy the primary over the one
  // copy that holds a write (sim server-sync seed 298 once groups were told of flushes one by one).
  // It is cleared with the region's copy, like a listed one: the group may know of a mark its disk
  // no longer has (one put with a lone write, lost with it in a crash), which no listing shows.
  for (const { server, gmap, region } of inputs.knownStale) {
    const disk = disks.get(gmap);
    if (!ours(disk, region) || (server !== primary && server !== secondary)) continue;
    const key = regionKey(gmap, region);
    const entry = regions.get(key) ?? { disk, region, staleOn: new Set<number>(), clears: [] };
    entry.staleOn.add(server);
    if (!entry.clears.some((clear) => clear.server === server && clear.kind === 'stale'))
      entry.clears.push({ server, kind: 'stale' });
    regions.set(key, entry);
  }
  // A failed write may have reached one copy without any mark (the primary's busy bit could not
  // be set): an unsettled region is copied whether or not a mark names it.
  for (const key of inputs.unsettled.keys()) {
    const { gmap, region } = parseRegionKey(key);
    const disk = disks.get(gmap);
    if (!ours(disk, region) || regions.has(key)) continue;
    regions.set(key, { disk, region, staleOn: new Set<number>(), clears: [] });
  }
  const copies: Copy[] = [];
  for (const { disk, region, staleOn, clears } of regions.values()) {
    let from: number;
    if (staleOn.size === 2) {
      inputs.log('both copies marked stale', { gmap: disk.gmap, region });
      from = primary;
    } else if (staleOn.size === 1) {
      from = [...staleOn][0]!;
    } else {
      const key = regionKey(disk.gmap, region);
      if (state(primary) === 'up' && state(secondary) === 'up' && !inputs.unsettled.has(key)) continue;
      const restarted = inputs.restarted;
      const holder = inputs.unsettled.get(key);
      if (restarted.has(primary) !== restarted.has(secondary)) from = restarted.has(primary) ? secondary : primary;
      else if (holder !== undefined) from = holder;
      else from = state(secondary) === 'up' && state(primary) !== 'up' ? secondary : primary;
    }
    const to = from === primary ? secondary : primary;
    if (writable(state(to))) copies.push({ disk, region, from, to, clears });
  }
  return copies;
}
