import { assert } from '../assert.js';
import { blockBytes, regionBytes } from '../storage/block-keys.js';

/**
 * Where a virtual disk's bytes live (Petal's GMap): the disk's block space is cut into stripe
 * units; unit u is served by server u mod N (its primary) and, with two replicas, by server
 * (u + 1) mod N (its secondary) — chained declustering. Each server keeps a unit's blocks on its
 * disk at the same block numbers under the disk's global map id (the PMap is the identity within
 * one disk per server), so a block's address never changes between replicas.
 */
export interface GMapLayout {
  readonly gmap: number;
  readonly servers: number;
  readonly replicas: 1 | 2;
  readonly stripeBytes: number;
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
  const primary = unit % layout.servers;
  if (layout.replicas === 1) return [primary];
  return [primary, (primary + 1) % layout.servers];
}

export function primaryOf(layout: GMapLayout, unit: number): number {
  return unit % layout.servers;
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
  assert(layout.stripeBytes % regionBytes === 0, `stripe ${layout.stripeBytes} is not whole regions`);
}
