import type { Actor, Behavior, Incoming } from '../../actors/actor.js';
import type { Address } from '../../actors/address.js';
import type { BufferPool, BufferHandle } from '../../actors/buffer-pool.js';
import type { DiskReply, DiskReplyTo, DiskRequest } from '../../storage/disk-protocol.js';
import { blockContent, seqOf } from '../../storage/crash/block-content.js';
import { torn, type DiskModel, type ReadTicket } from './model.js';

export const diskClientTimeoutMs = 300;
const inFlightMax = 4;
const tickMs = 2;

type Pending =
  | {
      readonly op: 'write' | 'trim';
      readonly block: number;
      readonly seq: number;
      readonly fua: boolean;
      readonly handle?: BufferHandle;
    }
  | { readonly op: 'read'; readonly block: number; readonly handle: BufferHandle; readonly ticket: ReadTicket }
  | { readonly op: 'flush'; readonly covers: Array<Set<number>> }
  | { readonly op: 'stats' };

/**
 * Random writes (some FUA), trims, reads and FLUSHes against one disk actor, at most one
 * operation per block in flight, reporting everything to the model. Requests are pinned to the
 * disk incarnation the client last heard from, so that a FLUSH never reaches a restarted disk
 * that lost the writes it should cover; after a WHORL_STALE_INCARNATION the client asks `stats`
 * until it learns the new incarnation.
 */
export function diskClient(disk: Address, pool: BufferPool, model: DiskModel, blockCount: number): Behavior<unknown> {
  return (context): Actor<unknown> => {
    const pending = new Map<number, Pending>();
    const busy = new Set<number>();
    let seq = 1;
    let incarnation: number | undefined;
    let probing = false;

    const send = (body: DiskRequest, what: Pending): void =>
      void pending.set(context.request(disk, body, diskClientTimeoutMs, incarnation), what);

    const issue = (): void => {
      if (incarnation === undefined) {
        if (!probing) send({ op: 'stats' }, { op: 'stats' });
        probing = true;
        return;
      }
      const roll = context.random();
      if (roll < 0.08) return send({ op: 'flush' }, { op: 'flush', covers: model.flushCovers() });
      const block = Math.floor(context.random() * blockCount);
      if (busy.has(block)) return;
      busy.add(block);
      if (roll < 0.35) {
        const handle = pool.tryLease(4096)!.handle;
        return send(
          { op: 'read', gmap: 0, epoch: 0, block, count: 1, handle },
          { op: 'read', block, handle, ticket: model.readSent(block) },
        );
      }
      const mySeq = seq++;
      const fua = context.random() < 0.1;
      if (roll < 0.42) {
        model.sent(block, mySeq, true);
        return send({ op: 'trim', gmap: 0, epoch: 0, block, count: 1, fua }, { op: 'trim', block, seq: mySeq, fua });
      }
      const lease = pool.tryLease(4096)!;
      blockContent(mySeq, block).copy(lease.bytes);
      model.sent(block, mySeq, false);
      send(
        { op: 'write', gmap: 0, epoch: 0, block, count: 1, handle: lease.handle, fua },
        { op: 'write', block, seq: mySeq, fua, handle: lease.handle },
      );
    };

    const settle = (requestId: number, reply: DiskReply | undefined, stale = false): void => {
      const what = pending.get(requestId);
      if (!what) return;
      pending.delete(requestId);
      if (reply?.incarnation !== undefined) incarnation = Math.max(incarnation ?? 0, reply.incarnation);
      if (stale) incarnation = undefined;
      if (what.op !== 'flush' && what.op !== 'stats') busy.delete(what.block);
      switch (what.op) {
        case 'stats':
          probing = false;
          return;
        case 'flush':
          if (reply?.ok) model.flushed(what.covers);
          return;
        case 'write':
        case 'trim':
          if (what.handle) pool.release(what.handle);
          if (reply?.ok) model.acked(what.block, what.seq, what.fua);
          else model.failed(what.block, what.seq);
          return;
        case 'read': {
          const bytes = Buffer.from(pool.view(what.handle));
          pool.release(what.handle);
          return reportRead(
            model,
            what.block,
            reply as DiskReplyTo<'read'> | undefined,
            bytes,
            context.now(),
            what.ticket,
          );
        }
      }
    };

    context.setTimer(tickMs, 'tick');
    return {
      receive(incoming: Incoming<unknown>): void {
        if (incoming.kind === 'timer') {
          while (pending.size < inFlightMax && busy.size < blockCount) {
            const before = pending.size;
            issue();
            if (pending.size === before) break;
          }
          context.setTimer(tickMs, 'tick');
        } else if (incoming.kind === 'reply') {
          settle(incoming.requestId, incoming.body as DiskReply);
        } else if (incoming.kind === 'failure') {
          settle(incoming.requestId, undefined, incoming.code === 'WHORL_STALE_INCARNATION');
        }
      },
    };
  };
}

/** Tells the model what a one-block read answered (nothing when the read failed or timed out). */
export function reportRead(
  model: DiskModel,
  block: number,
  reply: DiskReplyTo<'read'> | undefined,
  bytes: Buffer,
  atMs: number,
  ticket: ReadTicket,
): void {
  if (!reply) return;
  if (!reply.ok) return reply.code === 'WHORL_CHECKSUM' ? model.read(block, torn, atMs, ticket) : undefined;
  if (reply.holes?.length) return model.read(block, 0, atMs, ticket);
  const got = seqOf(bytes);
  model.read(block, blockContent(got, block).equals(bytes) ? got : NaN, atMs, ticket);
}
