import { Command, Errno } from '../../src/nbd/protocol.js';
import { blockContent, seqOf } from '../../src/storage/crash/block-content.js';
import type { RawClient } from './raw-client.js';

export const blockBytes = 4096;

/** The write a block holds: 0 for zeros, its sequence number, or -1 when it is torn or foreign. */
export function decodeBlock(block: number, bytes: Buffer): number {
  if (bytes.every((b) => b === 0)) return 0;
  const seq = seqOf(bytes);
  return Number.isSafeInteger(seq) && seq > 0 && blockContent(seq, block).equals(bytes) ? seq : -1;
}

/**
 * What a crash may leave in each block: the newest write durable before the crash (answered
 * before a FLUSH that was answered, or a FUA write), or any write issued after it.
 */
export class BlockJournal {
  private nextSeq = 1;
  /** Per block: the durable sequence (0: zeros) and the sequences issued since. */
  private readonly durable = new Map<number, number>();
  private readonly issuedSince = new Map<number, number[]>();
  private readonly answeredUnflushed = new Map<number, number>();

  constructor(readonly blocks: number) {}

  /**
   * Streams random 4 KiB writes (some FUA) with a FLUSH every `flushEvery`, `window` in flight,
   * until the connection dies (the daemon was killed). `onFlush` hears of each FLUSH answered.
   */
  async stream(
    client: RawClient,
    options: { flushEvery: number; window: number; random: () => number; onFlush?: () => void },
  ): Promise<{ writes: number; flushes: number }> {
    let writes = 0;
    let flushes = 0;
    const inFlight = new Map<
      bigint,
      { kind: 'write'; block: number; seq: number; fua: boolean } | { kind: 'flush'; covers: Map<number, number> }
    >();
    let cookie = 1n;
    for (;;) {
      while (inFlight.size < options.window) {
        const id = cookie++;
        if (
          writes > 0 &&
          writes % options.flushEvery === 0 &&
          ![...inFlight.values()].some((entry) => entry.kind === 'flush')
        ) {
          inFlight.set(id, { kind: 'flush', covers: new Map(this.answeredUnflushed) });
          client.request(Command.Flush, { cookie: id });
          writes += 1;
          continue;
        }
        // Overlapping writes in flight may land in either order: one write per block at a time.
        let block = Math.floor(options.random() * this.blocks);
        while ([...inFlight.values()].some((entry) => entry.kind === 'write' && entry.block === block))
          block = (block + 1) % this.blocks;
        const seq = this.nextSeq++;
        const fua = options.random() < 0.05;
        this.issuedSince.set(block, [...(this.issuedSince.get(block) ?? []), seq]);
        inFlight.set(id, { kind: 'write', block, seq, fua });
        client.request(Command.Write, {
          cookie: id,
          flags: fua ? 1 : 0,
          offset: block * blockBytes,
          payload: blockContent(seq, block),
        });
        writes += 1;
      }
      let reply;
      try {
        reply = await client.reply();
      } catch {
        return { writes, flushes };
      }
      if (!reply || reply.kind !== 'simple') return { writes, flushes };
      const entry = inFlight.get(reply.cookie);
      inFlight.delete(reply.cookie);
      if (!entry || reply.error !== Errno.OK) throw new Error(`request failed with errno ${reply.error}`);
      if (entry.kind === 'write') {
        if (entry.fua) this.makeDurable(entry.block, entry.seq);
        else this.answeredUnflushed.set(entry.block, Math.max(this.answeredUnflushed.get(entry.block) ?? 0, entry.seq));
      } else {
        flushes += 1;
        for (const [block, seq] of entry.covers) this.makeDurable(block, seq);
        options.onFlush?.();
      }
    }
  }

  /**
   * Streams as `stream` does and kills the daemon with `kill` at a random moment after the first
   * FLUSH of the round is answered (so every round has flushed data to check, however slow the
   * machine), up to `spreadMs` later. A round whose first FLUSH takes more than `firstFlushMsMax` is
   * an error: acknowledged durability that never comes is a failure, not a slow test.
   */
  async streamUntilKilled(
    client: RawClient,
    options: {
      flushEvery: number;
      window: number;
      random: () => number;
      spreadMs: number;
      kill: () => Promise<void>;
      firstFlushMsMax?: number;
    },
  ): Promise<{ writes: number; flushes: number }> {
    let firstFlush!: () => void;
    const flushed = new Promise<void>((resolve) => (firstFlush = resolve));
    const streaming = this.stream(client, { ...options, onFlush: firstFlush });
    const limitMs = options.firstFlushMsMax ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), limitMs)));
    const first = await Promise.race([flushed, late, streaming.then(() => 'ended' as const)]);
    clearTimeout(timer);
    streaming.catch(() => undefined); // its failure reaches the caller through the return below
    if (first === 'ended') throw new Error('the connection ended before any FLUSH was answered');
    if (first === 'late') throw new Error(`no FLUSH answered within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.random() * options.spreadMs));
    await options.kill();
    return streaming;
  }

  /** Checks what a block holds after the crash; returns why it is wrong, or undefined. */
  check(block: number, bytes: Buffer): string | undefined {
    const seq = decodeBlock(block, bytes);
    if (seq < 0) return `block ${block} is torn or foreign`;
    const durable = this.durable.get(block) ?? 0;
    const allowed = [durable, ...(this.issuedSince.get(block) ?? []).filter((issued) => issued > durable)];
    if (!allowed.includes(seq))
      return `block ${block} holds write ${seq}; durable was ${durable}, allowed ${allowed.slice(0, 5).join(',')}`;
    return undefined;
  }

  /** After a check: what each block holds now is the baseline for the next round. */
  settle(block: number, bytes: Buffer): void {
    this.durable.set(block, decodeBlock(block, bytes));
    this.issuedSince.delete(block);
    this.answeredUnflushed.delete(block);
  }

  private makeDurable(block: number, seq: number): void {
    if (seq > (this.durable.get(block) ?? 0)) this.durable.set(block, seq);
    this.issuedSince.set(
      block,
      (this.issuedSince.get(block) ?? []).filter((issued) => issued > seq || issued === seq),
    );
  }
}
