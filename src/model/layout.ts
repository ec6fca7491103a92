import { assert } from '../assert.js';
import { blockBytes, regionBytes } from '../storage/block-keys.js';

/**
 * Where a virtual disk's bytes live (Petal's GMap): the disk's block space is cut into stripe
 * units; unit u is served by server u mod N (its primary) and, with two replicas, by server
 * (u + 1) mod N (its secondary) — chained declustering. With `mirror` = G (CEFT mirror groups),
 * servers 0..G-1 form the primary group and G..2G-1 the backup group: unit u lives on server
 * u mod G and its mirror u mod G + G. Each server keeps a unit's blocks on its disk at the same
 * block numbers under the disk's global map id (the PMap is the identity within one disk per
 * server), so a block's address never changes between replicas.
 */
export interface GMapLayout {
  readonly gmap: number;
  readonly servers: number;
  readonly replicas: 1 | 2;
  readonly stripeBytes: number;
  /** Servers per mirror group, for the mirror layout (always two copies); absent for chained declustering. */
  readonly mirror?: number;
}

export const stripeBytesDefault = 64 * 1024;

export interface Piece {
  readonly unit: number;
  readonly block: number;
  readonly count: number;
  /** Where the piece starts within the request, in bytes. */
  readonly atBytes: number;
}

export function blocksPerUnit(layout: GMapLayout): number {
  return layout.stripeBytes / blockBytes;
}

/** Splits whole blocks [block, block + count) at stripe-unit boundaries. */
export function piecesOf(layout: GMapLayout, block: number, count: number): Piece[] {
  const perUnit = blocksPerUnit(layout);
  const pieces: Piece[] = [];
  let at = 0;
  while (at < count) {
    const first = block + at;
    const unit = Math.floor(first / perUnit);
    const n = Math.min(count - at, (unit + 1) * perUnit - first);
    pieces.push({ unit, block: first, count: n, atBytes: at * blockBytes });
    at += n;
  }
  return pieces;
}

/** The servers holding a unit: primary first. */
export function replicasOf(layout: GMapLayout, unit: number): number[] {
  if (layout.mirror) return [unit % layout.mirror, (unit % layout.mirror) + layout.mirror];
  const primary = unit % layout.servers;
  if (layout.replicas === 1) return [primary];
  return [primary, (primary + 1) % layout.servers];
}

export function primaryOf(layout: GMapLayout, unit: number): number {
  return unit % (layout.mirror ?? layout.servers);
}

/** The actor that orders a unit's writes: its chained replica group, or its mirror pair's group. */
export function ordererOf(layout: GMapLayout, unit: number): string {
  const [primary, secondary] = replicasOf(layout, unit) as [number, number | undefined];
  return layout.mirror ? mirrorGroupName(primary, secondary!) : chainedGroupName(primary);
}

export const chainedGroupName = (primary: number): string => `group-${primary}`;
export const mirrorGroupName = (primary: number, mirror: number): string => `mirror-${primary}-${mirror}`;

/** Every write orderer of a cluster of `servers`: the N chained groups and each possible mirror pair. */
export function orderersOf(
  servers: number,
): Array<{ name: string; primary: number; secondary: number; mirror: boolean }> {
  const orderers = Array.from({ length: servers }, (_, id) => ({
    name: chainedGroupName(id),
    primary: id,
    secondary: (id + 1) % servers,
    mirror: false,
  }));
  for (let groupSize = 1; groupSize * 2 <= servers; groupSize++) {
    for (let primary = 0; primary < groupSize; primary++) {
      const secondary = primary + groupSize;
      if (
        !orderers.some((orderer) => orderer.mirror && orderer.primary === primary && orderer.secondary === secondary)
      ) {
        orderers.push({ name: mirrorGroupName(primary, secondary), primary, secondary, mirror: true });
      }
    }
  }
  return orderers;
}

/** The orderers that keep a copy on `server` (they recover it when it returns). */
export function orderersHolding(server: number, servers: number): string[] {
  return orderersOf(servers)
    .filter((orderer) => orderer.primary === server || orderer.secondary === server)
    .map((orderer) => orderer.name);
}

/** The 64 KiB regions (busy bits, stale marks) that blocks [block, block + count) touch. */
export function regionsOf(block: number, count: number): number[] {
  const perRegion = regionBytes / blockBytes;
  const first = Math.floor(block / perRegion);
  const last = Math.floor((block + count - 1) / perRegion);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

export function unitOfRegion(layout: GMapLayout, region: number): number {
  return Math.floor((region * regionBytes) / layout.stripeBytes);
}

export function checkLayout(layout: GMapLayout): void {
  assert(layout.servers >= layout.replicas, `${layout.replicas} replicas on ${layout.servers} servers`);
  if (layout.mirror !== undefined)
    assert(
      layout.replicas === 2 && layout.mirror >= 1 && layout.mirror * 2 <= layout.servers,
      `mirror groups of ${layout.mirror} on ${layout.servers} servers`,
    );
  assert(layout.stripeBytes % regionBytes === 0, `stripe ${layout.stripeBytes} is not whole regions`);
}
