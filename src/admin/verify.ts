import type { BufferPool } from '../actors/buffer-pool.js';
import { withBase, type ExportTarget } from '../model/catalog.js';
import { WhorlError } from '../errors.js';
import { blockBytes } from '../storage/block-keys.js';
import { blocksPerRequestMax } from '../storage/disk-protocol.js';
import { piecesOf, replicasOf } from '../model/layout.js';
import type { Router } from '../volumes/router.js';

export interface VerifyReport {
  readonly name: string;
  readonly comparedBytes: number;
  /** Block ranges [first, count] whose copies differ (holes count as zeros). */
  readonly differing: Array<[number, number]>;
}

/**
 * Compares the two copies of every allocated block of a replicated disk or snapshot (as its
 * export reads them, base layers included), byte for byte, reading
 * each copy from its own server (a stopped or down server makes this fail: there is nothing to
 * compare). Used by operators after a resync and by the tests.
 */
export async function verifyReplicas(router: Router, pool: BufferPool, disk: ExportTarget): Promise<VerifyReport> {
  if (disk.replicas !== 2) return { name: disk.name, comparedBytes: 0, differing: [] };
  const blocks = disk.sizeBytes / blockBytes;
  const allocated = new Set<number>();
  for (let server = 0; server < disk.servers; server++) {
    for (let first = 0; first < blocks; first += blocksPerRequestMax) {
      const count = Math.min(blocksPerRequestMax, blocks - first);
      const reply = await router.server(server, {
        op: 'allocated',
        gmap: disk.gmap,
        epoch: disk.epoch,
        block: first,
        count,
        ...withBase(disk),
      });
      if (!reply.ok) throw new WhorlError(reply.code, `server ${server}: ${reply.message}`);
      for (const [start, n] of reply.runs ?? []) for (let i = 0; i < n; i++) allocated.add(start + i);
    }
  }
  const differing: Array<[number, number]> = [];
  let comparedBytes = 0;
  const a = await pool.lease(disk.stripeBytes);
  const b = await pool.lease(disk.stripeBytes);
  try {
    const units = [...new Set([...allocated].map((block) => Math.floor((block * blockBytes) / disk.stripeBytes)))].sort(
      (x, y) => x - y,
    );
    for (const unit of units) {
      const perUnit = disk.stripeBytes / blockBytes;
      const [piece] = piecesOf(disk, unit * perUnit, Math.min(perUnit, blocks - unit * perUnit));
      const [first, second] = replicasOf(disk, unit) as [number, number];
      const bytes = piece!.count * blockBytes;
      for (const [server, lease] of [
        [first, a],
        [second, b],
      ] as const) {
        const reply = await router.server(server, {
          op: 'read',
          gmap: disk.gmap,
          epoch: disk.epoch,
          block: piece!.block,
          count: piece!.count,
          handle: { ...lease.handle, lengthBytes: bytes },
          ...withBase(disk),
        });
        if (!reply.ok) throw new WhorlError(reply.code, `server ${server}: ${reply.message}`);
      }
      comparedBytes += bytes;
      for (let i = 0; i < piece!.count; i++) {
        const at = i * blockBytes;
        if (a.bytes.compare(b.bytes, at, at + blockBytes, at, at + blockBytes) === 0) continue;
        const last = differing[differing.length - 1];
        if (last && last[0] + last[1] === piece!.block + i) last[1] += 1;
        else differing.push([piece!.block + i, 1]);
      }
    }
  } finally {
    pool.release(a.handle);
    pool.release(b.handle);
  }
  return { name: disk.name, comparedBytes, differing };
}
