import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ActorRuntime } from '../../actors/runtime.js';
import { localClient } from '../../actors/local-client.js';
import { silentLogger } from '../../log.js';
import type { DiskReplyTo } from '../disk-protocol.js';
import { spawnDisk } from '../spawn-disk.js';
import { blockContent, crashBlocks, crashCapacityBytes, crashOwner, seqOf } from './block-content.js';

const writerScript = fileURLToPath(new URL('./writer.js', import.meta.url));

/** What each block held after the previous round (the seq of its write), absent for zeros. */
export type DiskState = Map<number, number>;

export interface RoundResult {
  readonly state: DiskState;
  readonly nextSeq: number;
  readonly acked: number;
  readonly durable: number;
  /** Every way the disk broke the contract; empty when it kept it. */
  readonly violations: string[];
}

interface Journal {
  readonly blockOf: Map<number, number>;
  readonly acked: number[];
  readonly durable: Set<number>;
  readonly flushCovers: Map<number, number>;
  lastSeq: number;
}

/**
 * One kill round: run the writer on `dir`, kill -9 it `runMs` after it is ready, reopen the disk
 * and check every block: it must hold exactly (CRC intact, every byte) either its last durable
 * write (FUA, or acked before a FLUSH that was answered) or a write sent after that one — or,
 * without a durable write this round, what it held before the round.
 */
export async function crashRound(
  dir: string,
  seed: number,
  firstSeq: number,
  runMs: number,
  before: DiskState,
): Promise<RoundResult> {
  const journal = await runAndKill(dir, seed, firstSeq, runMs);
  const held = await readBack(dir);
  const violations: string[] = [];
  const state: DiskState = new Map();
  const sentTo = Array.from({ length: crashBlocks }, (): number[] => []);
  for (const [seq, block] of journal.blockOf) sentTo[block]!.push(seq);
  for (let block = 0; block < crashBlocks; block++) {
    const sent = sentTo[block]!;
    const durable = sent.filter((seq) => journal.durable.has(seq));
    const floor = durable.length > 0 ? Math.max(...durable) : undefined;
    const allowed = new Set(floor === undefined ? sent : sent.filter((seq) => seq >= floor));
    const prior = before.get(block);
    const got = held[block]!;
    if (got === 'corrupt') {
      violations.push(`block ${block}: checksum error (torn or damaged)`);
      continue;
    }
    if (got === 'zero') {
      if (floor !== undefined || prior !== undefined)
        violations.push(`block ${block}: zeros, expected write ${floor ?? prior} or later`);
      continue;
    }
    const seq = seqOf(got);
    const whole = blockContent(seq, block).equals(got);
    if (!whole) violations.push(`block ${block}: holds a torn or foreign 4 KiB (header says write ${seq})`);
    else if (!allowed.has(seq) && !(floor === undefined && seq === prior))
      violations.push(
        `block ${block}: holds write ${seq}, allowed ${floor === undefined ? `${prior ?? 'zeros'} or ` : ''}${[...allowed].join(',') || 'nothing newer'}`,
      );
    else state.set(block, seq);
  }
  return {
    state,
    nextSeq: journal.lastSeq + 1,
    acked: journal.acked.length,
    durable: journal.durable.size,
    violations,
  };
}

async function runAndKill(dir: string, seed: number, firstSeq: number, runMs: number): Promise<Journal> {
  const child = spawn(process.execPath, [writerScript, dir, String(seed), String(firstSeq)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const journal: Journal = {
    blockOf: new Map(),
    acked: [],
    durable: new Set(),
    flushCovers: new Map(),
    lastSeq: firstSeq - 1,
  };
  const exited = once(child, 'exit');
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const lines = createInterface({ input: child.stdout });
  const linesClosed = once(lines, 'close');
  lines.on('line', (line) => {
    const [event, a, b] = line.split(' ');
    const n = Number(a);
    switch (event) {
      case 'ready':
        return ready();
      case 'send':
        journal.blockOf.set(n, Number(b));
        journal.lastSeq = Math.max(journal.lastSeq, n);
        return;
      case 'ack':
        journal.acked.push(n);
        return;
      case 'fua':
        journal.acked.push(n);
        journal.durable.add(n);
        return;
      case 'flush-send':
        journal.flushCovers.set(n, journal.acked.length);
        return;
      case 'flush-ack':
        for (const seq of journal.acked.slice(0, journal.flushCovers.get(n))) journal.durable.add(seq);
        return;
      default:
        throw new Error(`crash writer: ${line}`);
    }
  });
  await Promise.race([
    isReady,
    exited.then(() => Promise.reject(new Error('crash writer exited before it was ready'))),
  ]);
  await new Promise((resolve) => setTimeout(resolve, runMs));
  child.kill('SIGKILL');
  await exited;
  await linesClosed;
  return journal;
}

async function readBack(dir: string): Promise<Array<Buffer | 'zero' | 'corrupt'>> {
  const runtime = await ActorRuntime.start({ threads: 1, log: silentLogger() });
  try {
    await spawnDisk(runtime, 'disk', {
      path: dir,
      owner: crashOwner,
      capacityBytes: crashCapacityBytes,
      create: false,
    });
    const client = localClient(runtime, 'checker');
    const lease = await runtime.pool.lease(4096);
    const held: Array<Buffer | 'zero' | 'corrupt'> = [];
    for (let block = 0; block < crashBlocks; block++) {
      const reply = await client.request<DiskReplyTo<'read'>>('disk', {
        op: 'read',
        gmap: 0,
        epoch: 0,
        block,
        count: 1,
        handle: lease.handle,
      });
      if (!reply.ok) held.push('corrupt');
      else held.push(reply.holes?.length ? 'zero' : Buffer.from(lease.bytes));
    }
    runtime.pool.release(lease.handle);
    return held;
  } finally {
    await runtime.stop();
  }
}
