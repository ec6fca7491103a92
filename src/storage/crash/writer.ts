import fs from 'node:fs';
import { ActorRuntime } from '../../actors/runtime.js';
import { localClient } from '../../actors/local-client.js';
import { silentLogger } from '../../log.js';
import { Prng } from '../../prng.js';
import type { DiskReplyTo, DiskRequest } from '../disk-protocol.js';
import { spawnDisk } from '../spawn-disk.js';
import { blockContent, crashBlocks, crashCapacityBytes, crashOwner } from './block-content.js';

/**
 * The process the crash check kills: it streams writes to a disk actor — some with FUA, a FLUSH
 * every `flushEvery` — and logs on stdout, in order, what was acknowledged:
 *
 *   | line            | meaning                                                        |
 *   |-----------------|----------------------------------------------------------------|
 *   | ready           | the disk is open                                               |
 *   | send SEQ BLOCK  | write SEQ to BLOCK is about to be sent                         |
 *   | ack SEQ         | write SEQ answered (visible, not yet durable)                  |
 *   | fua SEQ         | FUA write SEQ answered: durable                                |
 *   | flush-send ID   | flush ID sent: it covers every write acked before this line    |
 *   | flush-ack ID    | flush ID answered: those writes are durable                    |
 *
 * Arguments: DIR SEED FIRST_SEQ. Never more than one write in flight per block, so each block's
 * writes are ordered.
 */
const [dir, seedText, firstSeqText] = process.argv.slice(2);
const inFlightMax = 16;
const flushEvery = 64;
const fuaRate = 0.05;

// stdout is a pipe Node made non-blocking: when the checker reads slowly (a loaded machine) a
// write can fail with EAGAIN or be partial. The log must be written before the next step, so it
// waits a millisecond and goes on.
const pause = new Int32Array(new SharedArrayBuffer(4));
const log = (line: string): void => {
  const bytes = Buffer.from(`${line}\n`);
  for (let at = 0; at < bytes.length;) {
    try {
      at += fs.writeSync(1, bytes, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
};

async function main(): Promise<void> {
  const prng = new Prng(Number(seedText));
  const runtime = await ActorRuntime.start({ threads: 1, log: silentLogger() });
  await spawnDisk(runtime, 'disk', { path: dir!, owner: crashOwner, capacityBytes: crashCapacityBytes, create: true });
  const client = localClient(runtime, 'writer');
  const ask = <Body extends DiskRequest>(body: Body) => client.request<DiskReplyTo<Body['op']>>('disk', body);
  log('ready');
  let seq = Number(firstSeqText);
  let flushId = 0;
  const busy = new Set<number>();
  const writeOne = async (): Promise<void> => {
    let block = prng.int(crashBlocks);
    while (busy.has(block)) block = (block + 1) % crashBlocks;
    busy.add(block);
    const mySeq = seq++;
    const fua = prng.chance(fuaRate);
    const lease = await runtime.pool.lease(4096);
    blockContent(mySeq, block).copy(lease.bytes);
    log(`send ${mySeq} ${block}`);
    const reply = await ask({ op: 'write', gmap: 0, epoch: 0, block, count: 1, handle: lease.handle, fua });
    runtime.pool.release(lease.handle);
    busy.delete(block);
    if (!reply.ok) throw new Error(`write ${mySeq} failed: ${reply.message}`);
    log(`${fua ? 'fua' : 'ack'} ${mySeq}`);
    if (mySeq % flushEvery === 0) {
      const id = flushId++;
      log(`flush-send ${id}`);
      const flushed = await ask({ op: 'flush' });
      if (!flushed.ok) throw new Error(`flush ${id} failed: ${flushed.message}`);
      log(`flush-ack ${id}`);
    }
  };
  // Writes until killed.
  const lanes = Array.from({ length: inFlightMax }, async () => {
    for (;;) await writeOne();
  });
  await Promise.all(lanes);
}

main().catch((error: unknown) => {
  log(`error ${String(error)}`);
  process.exit(1);
});
