import type { BufferPool } from '../../actors/buffer-pool.js';
import type { ExportTarget } from '../../model/catalog.js';
import { replicasOf } from '../../model/layout.js';
import { blockBytes } from '../../storage/block-keys.js';
import type { DiskReplyTo } from '../../storage/disk-protocol.js';
import type { Router } from '../../volumes/router.js';
import { reportRead } from '../disk/client.js';
import type { DiskModel } from '../disk/model.js';

/** A snapshot the workload took, with the model frozen when it was taken. */
export interface TakenSnapshot {
  readonly name: string;
  readonly epoch: number;
  readonly model: DiskModel;
}

const readTimeoutMs = 2000;

/**
 * After healing: reads both copies of every block, at the disk's epoch and at every snapshot's,
 * straight from the servers. Returns the blocks whose copies differ, as epoch × blocks + block, or
 * undefined when a read failed or the view changed meanwhile (the caller tries again). Each
 * snapshot's blocks are also checked against its model (one copy read; the copies must be equal).
 */
export async function compareCopies(
  router: Router,
  pool: BufferPool,
  target: ExportTarget,
  snapshots: readonly TakenSnapshot[],
  blockCount: number,
  model: DiskModel,
  now: () => number,
): Promise<number[] | undefined> {
  const version = router.view?.version;
  const epochs = [target.epoch, ...snapshots.map((snapshot) => snapshot.epoch)];
  const reads: Array<Promise<{ reply: DiskReplyTo<'read'>; bytes: Buffer }>> = [];
  for (const epoch of epochs) {
    for (let block = 0; block < blockCount; block++) {
      const unit = Math.floor((block * blockBytes) / target.stripeBytes);
      for (const server of replicasOf(target, unit))
        reads.push(readCopy(router, pool, target.gmap, epoch, block, server));
    }
  }
  const copies = await Promise.all(reads);
  // A block torn on a copy compares as 'torn': equal only to the same loss on the other copy.
  const torn = (reply: DiskReplyTo<'read'>): boolean => !reply.ok && reply.code === 'WHORL_CHECKSUM';
  if (copies.some(({ reply }) => !reply.ok && !torn(reply)) || router.view?.version !== version) return undefined;
  const content = ({ reply, bytes }: { reply: DiskReplyTo<'read'>; bytes: Buffer }): Buffer =>
    torn(reply) ? Buffer.from('torn') : reply.ok && reply.holes?.length ? Buffer.alloc(blockBytes) : bytes;
  const differing: number[] = [];
  epochs.forEach((epoch, index) => {
    const snapshot = index > 0 ? snapshots[index - 1] : undefined;
    for (let block = 0; block < blockCount; block++) {
      const [a, b] = copies.slice((index * blockCount + block) * 2, (index * blockCount + block) * 2 + 2);
      if (!content(a!).equals(content(b!))) differing.push(epoch * blockCount + block);
      if (!snapshot) continue;
      reportRead(snapshot.model, block, a!.reply, a!.bytes, now(), snapshot.model.readSent(block));
      if (snapshot.model.violation)
        model.violation ??= `snapshot ${snapshot.name} (epoch ${snapshot.epoch}): ${snapshot.model.violation}`;
    }
  });
  return differing;
}

async function readCopy(
  router: Router,
  pool: BufferPool,
  gmap: number,
  epoch: number,
  block: number,
  server: number,
): Promise<{ reply: DiskReplyTo<'read'>; bytes: Buffer }> {
  const handle = pool.tryLease(blockBytes)!.handle;
  const reply = await router.server(server, { op: 'read', gmap, epoch, block, count: 1, handle }, readTimeoutMs);
  const bytes = Buffer.from(pool.view(handle));
  pool.release(handle);
  return { reply, bytes };
}
