import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { arg } from './args.js';

/**
 * `npm run bench -- lmdb [--mib=N] [--flush-mib=N]`: what one disk's block data costs to store,
 * whatever runs above it. N MiB written in order, 1 MiB handed over per event turn, a flush
 * (durable) every `flush-mib` MiB, as a 1 MiB sequential NBD write with periodic FLUSH does:
 *
 * - lmdb-js with disk format 2's records (a 4,072-byte head and a 28-byte tail per 4 KiB block), and with
 *   one record per 64 KiB (an extent: 16 blocks, a 65,512-byte head, the rest in the tail);
 * - each with `overlappingSync` (every commit synced: what disk actors use, safe on power loss)
 *   and with `noSync` plus one `sync` per flush (what a page-cache server does; LMDB then risks
 *   its integrity on power loss, so whorl cannot use it as is);
 * - a plain file written with one `write` per MiB and `fdatasync` per flush (nbdkit-file's path,
 *   plus the syncs).
 *
 * Prints MiB/s and the process's CPU (every thread: lmdb-js's writer, libuv's pool) per 4 KiB.
 */
const mib = 2 ** 20;

interface Cost {
  readonly name: string;
  readonly mibPerSecond: number;
  readonly cpuMicrosPer4k: number;
  readonly fileBytes: number;
}

export async function benchLmdbCosts(args: string[]): Promise<void> {
  const total = Number(arg(args, 'mib', '256'));
  const flushMiB = Number(arg(args, 'flush-mib', '16'));
  const data = randomBytes(mib);
  console.log(`${total} MiB in order, 1 MiB per event turn, a durable flush every ${flushMiB} MiB`);
  const costs: Cost[] = [];
  for (const sync of ['overlappingSync', 'noSync'] as const) {
    for (const recordBytes of [4096, 65536]) costs.push(await lmdbRun(data, total, flushMiB, recordBytes, sync));
  }
  costs.push(await fileRun(data, total, flushMiB));
  console.log('| store | MiB/s | CPU µs per 4 KiB | bytes on disk / written |');
  console.log('|---|---|---|---|');
  for (const cost of costs) {
    console.log(
      `| ${cost.name} | ${cost.mibPerSecond.toFixed(0)} | ${cost.cpuMicrosPer4k.toFixed(1)} | ${(cost.fileBytes / (total * mib)).toFixed(2)}× |`,
    );
  }
}

async function lmdbRun(
  data: Buffer,
  total: number,
  flushMiB: number,
  recordBytes: number,
  sync: 'overlappingSync' | 'noSync',
): Promise<Cost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-lmdb-'));
  try {
    const options = sync === 'noSync' ? { noSync: true } : { overlappingSync: true };
    const db = open<Buffer, string>({
      path: dir,
      encoding: 'binary',
      mapSize: 4 * total * mib + 64 * mib,
      pageSize: 4096,
      ...options,
    });
    // A head that fills whole overflow pages (lmdb-js: 24 bytes of page header), the rest in a small tail.
    const head = recordBytes - 24;
    const tail = 4 + recordBytes - head;
    const durable = (): Promise<unknown> =>
      sync === 'noSync'
        ? new Promise<void>((resolve, reject) =>
            (db as unknown as { sync(callback: (error: unknown) => void): void }).sync((error) =>
              error ? reject(error) : resolve(),
            ),
          )
        : db.flushed;
    const started = performance.now();
    const cpu = process.cpuUsage();
    let last: Promise<unknown> = Promise.resolve();
    for (let at = 0; at < total; at++) {
      for (let offset = 0; offset < mib; offset += recordBytes) {
        const record = (at * mib + offset) / recordBytes;
        const key = `b:00000001:${record.toString(16).padStart(12, '0')}:00000000`;
        const headValue = Buffer.allocUnsafe(head);
        data.copy(headValue, 0, offset, offset + head);
        const tailValue = Buffer.allocUnsafe(tail);
        data.copy(tailValue, 4, offset + head, offset + recordBytes);
        db.put(key, headValue);
        last = db.put(`t${key.slice(1)}`, tailValue);
      }
      await new Promise((resolve) => setImmediate(resolve));
      if ((at + 1) % flushMiB === 0) {
        await last;
        await durable();
      }
    }
    await last;
    await durable();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const fileBytes = fs.statSync(path.join(dir, 'data.mdb')).blocks * 512;
    await db.close();
    const name = `lmdb-js, ${recordBytes / 1024} KiB records, ${sync === 'noSync' ? 'noSync + sync per flush' : 'overlappingSync (sync per commit)'}`;
    return {
      name,
      mibPerSecond: total / seconds,
      cpuMicrosPer4k: (used.user + used.system) / (total * 256),
      fileBytes,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function fileRun(data: Buffer, total: number, flushMiB: number): Promise<Cost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-bench-file-'));
  try {
    const file = await fs.promises.open(path.join(dir, 'disk.img'), 'w');
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let at = 0; at < total; at++) {
      await file.write(data, 0, mib, at * mib);
      if ((at + 1) % flushMiB === 0) await file.datasync();
    }
    await file.datasync();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    await file.close();
    const fileBytes = fs.statSync(path.join(dir, 'disk.img')).blocks * 512;
    return {
      name: 'plain file, write + fdatasync per flush',
      mibPerSecond: total / seconds,
      cpuMicrosPer4k: (used.user + used.system) / (total * 256),
      fileBytes,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
