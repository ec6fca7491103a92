import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { ActorRuntime } from '../src/actors/runtime.js';
import { localClient } from '../src/actors/local-client.js';
import { silentLogger } from '../src/log.js';
import { Prng } from '../src/prng.js';
import { CommitTable } from '../src/storage/commit-table.js';
import { crashRound, type DiskState } from '../src/storage/crash/check.js';
import { mapSizeFor } from '../src/storage/disk-format.js';
import type { DiskReplyTo, DiskRequest } from '../src/storage/disk-protocol.js';
import { spawnDisk } from '../src/storage/spawn-disk.js';
import { DirectReads } from '../src/storage/direct-reads.js';
import { arg } from './args.js';

/**
 * `npm run bench -- storage [--writes=N] [--kills=N] [--read-depth=N]`: 4 KiB random writes with a FLUSH every 64
 * and 4 KiB random reads, through a disk actor (worker thread, LMDB keys and a block file) and through raw lmdb-js
 * put/get with the same durability (`flushed` every 64 puts) and the same environment options, in
 * the same run; the same reads served directly from the disk's files (the front end's path for
 * small reads, reported beside the goal's); space amplification; then kill -9 rounds of the crash check.
 */
const flushEvery = 64;
const blockBytes = 4096;

interface Figures {
  writesPerSecond: number;
  readsPerSecond: number;
  /**
   * The same reads served on the caller's thread from the disk's files, as the front end serves pieces
   * of up to 256 blocks.
   */
  directReadsPerSecond?: number;
  fileBytes: number;
}

export async function benchStorage(args: string[]): Promise<void> {
  const writes = Math.ceil(Number(arg(args, 'writes', '50000')) / flushEvery) * flushEvery;
  const kills = Number(arg(args, 'kills', '50'));
  const spanBlocks = writes * 4; // sparse: random blocks over four times what is written
  const prng = new Prng(7);
  const blocks = Array.from({ length: writes }, () => prng.int(spanBlocks));
  const uniqueBytes = new Set(blocks).size * blockBytes;
  const reads = Array.from({ length: writes }, () => blocks[prng.int(blocks.length)]!);

  const raw = await rawLmdb(blocks, reads);
  const readDepth = Number(arg(args, 'read-depth', '64'));
  const actor = await throughDiskActor(blocks, reads, readDepth);
  console.log('');
  console.log(
    `${writes.toLocaleString('en-US')} random 4 KiB writes over ${((spanBlocks * blockBytes) / 2 ** 20).toFixed(0)} MiB, FLUSH every ${flushEvery}; as many random reads`,
  );
  console.log('| measure | disk actor | raw lmdb-js | actor / raw | goal |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| 4 KiB random writes/s | ${fmt(actor.writesPerSecond)} | ${fmt(raw.writesPerSecond)} | ${(actor.writesPerSecond / raw.writesPerSecond).toFixed(2)}× | ≥ 0.8× |`,
  );
  console.log(
    `| 4 KiB random reads/s (${readDepth} in flight) | ${fmt(actor.readsPerSecond)} | ${fmt(raw.readsPerSecond)} | ${(actor.readsPerSecond / raw.readsPerSecond).toFixed(2)}× | ≥ 0.8× |`,
  );
  const direct = actor.directReadsPerSecond!;
  console.log(
    `| 4 KiB random reads/s, direct (the front end's path for small reads: the disk's files on the caller's thread) | ${fmt(direct)} | ${fmt(raw.readsPerSecond)} | ${(direct / raw.readsPerSecond).toFixed(2)}× | (not the goal's path) |`,
  );
  console.log(
    `| space: the disk's files (data.mdb + blocks; raw: data.mdb) / bytes written | ${(actor.fileBytes / uniqueBytes).toFixed(2)}× | ${(raw.fileBytes / uniqueBytes).toFixed(2)}× | | ≤ 1.5× |`,
  );
  if (kills > 0) await killRounds(kills);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function scratch(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `whorl-bench-${name}-`));
  return dir;
}

async function rawLmdb(blocks: number[], reads: number[]): Promise<Figures> {
  const dir = scratch('raw');
  const capacityBytes = blocks.length * 4 * blockBytes;
  const db = open<Buffer, string>({
    path: dir,
    encoding: 'binary',
    mapSize: mapSizeFor(capacityBytes),
    pageSize: 4096,
    overlappingSync: true,
  });
  const data = randomBytes(blockBytes);
  const key = (block: number) => `b:00000001:${block.toString(16).padStart(12, '0')}:00000000`;
  const started = performance.now();
  for (let i = 0; i < blocks.length; i += flushEvery) {
    const batch: Promise<boolean>[] = [];
    // A fresh value per put, as the disk actor makes (lmdb-js reads the value at commit time).
    for (let j = i; j < i + flushEvery; j++) batch.push(db.put(key(blocks[j]!), Buffer.from(data)));
    await Promise.all(batch);
    await db.flushed;
  }
  const writesPerSecond = blocks.length / ((performance.now() - started) / 1000);
  const into = Buffer.alloc(blockBytes);
  const readStarted = performance.now();
  for (const block of reads) {
    // getBinaryFast's buffer is lmdb-js's reused read buffer; `length` is the value's size.
    const value = db.getBinaryFast(key(block))!;
    into.set(value.subarray(0, value.length));
  }
  const readsPerSecond = reads.length / ((performance.now() - readStarted) / 1000);
  await db.close();
  const fileBytes = fs.statSync(path.join(dir, 'data.mdb')).size;
  fs.rmSync(dir, { recursive: true, force: true });
  return { writesPerSecond, readsPerSecond, fileBytes };
}

async function throughDiskActor(blocks: number[], reads: number[], readDepth: number): Promise<Figures> {
  const dir = scratch('actor');
  const runtime = await ActorRuntime.start({ threads: 1, log: silentLogger() });
  const commits = CommitTable.create();
  await spawnDisk(runtime, 'disk', {
    path: dir,
    owner: 'bench',
    capacityBytes: blocks.length * 4 * blockBytes,
    create: true,
    commits: commits.buffer,
  });
  const client = localClient(runtime, 'bench');
  const ask = <Body extends DiskRequest>(body: Body) => client.request<DiskReplyTo<Body['op']>>('disk', body);
  const leases = await Promise.all(
    Array.from({ length: Math.max(flushEvery, readDepth) }, () => runtime.pool.lease(blockBytes)),
  );
  for (const lease of leases) lease.bytes.set(randomBytes(blockBytes));

  const started = performance.now();
  for (let i = 0; i < blocks.length; i += flushEvery) {
    const batch: Promise<DiskReplyTo<'write'>>[] = [];
    for (let j = 0; j < flushEvery; j++)
      batch.push(
        ask({ op: 'write', gmap: 1, epoch: 0, block: blocks[i + j]!, count: 1, handle: leases[j]!.handle, fua: false }),
      );
    for (const reply of await Promise.all(batch)) if (!reply.ok) throw new Error(reply.message);
    const flushed = await ask({ op: 'flush' });
    if (!flushed.ok) throw new Error(flushed.message);
  }
  const writesPerSecond = blocks.length / ((performance.now() - started) / 1000);

  // Reads keep `readDepth` requests in flight, each lane reusing its own buffer.
  const readStarted = performance.now();
  let next = 0;
  await Promise.all(
    leases.slice(0, readDepth).map(async (lease) => {
      while (next < reads.length) {
        const reply = await ask({
          op: 'read',
          gmap: 1,
          epoch: 0,
          block: reads[next++]!,
          count: 1,
          handle: lease.handle,
        });
        if (!reply.ok) throw new Error(reply.message);
      }
    }),
  );
  const readsPerSecond = reads.length / ((performance.now() - readStarted) / 1000);

  // Every write was flushed above, so every direct read is served; one declined would be a bench error.
  const direct = new DirectReads(
    () => dir,
    () => commits,
  );
  const into = leases[0]!.bytes;
  const directStarted = performance.now();
  for (const block of reads)
    if (!direct.read(0, { gmap: 1, epoch: 0, block, count: 1, based: false }, into))
      throw new Error(`direct read of block ${block} declined`);
  const directReadsPerSecond = reads.length / ((performance.now() - directStarted) / 1000);
  direct.closeAll();
  for (const lease of leases) runtime.pool.release(lease.handle);
  await runtime.stop();
  const fileBytes = ['data.mdb', 'blocks'].reduce((sum, file) => sum + fs.statSync(path.join(dir, file)).size, 0);
  fs.rmSync(dir, { recursive: true, force: true });
  return { writesPerSecond, readsPerSecond, directReadsPerSecond, fileBytes };
}

async function killRounds(kills: number): Promise<void> {
  const dir = scratch('crash');
  const prng = new Prng(2026);
  let state: DiskState = new Map();
  let nextSeq = 1;
  let durable = 0;
  let violations = 0;
  for (let round = 0; round < kills; round++) {
    const result = await crashRound(dir, 9000 + round, nextSeq, 100 + prng.int(900), state);
    violations += result.violations.length;
    for (const violation of result.violations) console.log(`round ${round}: ${violation}`);
    state = result.state;
    nextSeq = result.nextSeq;
    durable += result.durable;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log('');
  console.log(`| kill -9 rounds | writes sent | durable when killed | violations |`);
  console.log('|---|---|---|---|');
  console.log(`| ${kills} | ${fmt(nextSeq - 1)} | ${fmt(durable)} | ${violations} |`);
}
