import test from 'ava';
import { BufferPool } from '../src/actors/buffer-pool.js';
import { MemoryBackend } from '../src/backends/memory.js';
import { silentLogger } from '../src/log.js';
import { Command, Option, REQUEST_MAGIC } from '../src/nbd/protocol.js';
import { NbdServer } from '../src/nbd/server.js';
import { NamedCatalog } from './helpers/catalog.js';
import { option, playCase, type FuzzCase } from './helpers/fuzz.js';
import { goData, metaContextData, RawClient } from './helpers/raw-client.js';
import { Prng } from '../src/prng.js';

const MiB = 1024 * 1024;
const seed = Number(process.env['FUZZ_SEED'] ?? 20261121);
const casesPerRound = Number(process.env['FUZZ_CASES'] ?? 1500);

/** The bytes a well-behaved client sends to reach transmission on `name` (structured, with base:allocation). */
function handshakeBytes(name: string): Buffer {
  return Buffer.concat([
    u32(3),
    option(Option.StructuredReply, Buffer.alloc(0)),
    option(Option.SetMetaContext, metaContextData(name, ['base:allocation'])),
    option(Option.Go, goData(name, [])),
  ]);
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

function request(prng: Prng): Buffer {
  const header = Buffer.alloc(28);
  header.writeUInt32BE(prng.chance(0.95) ? REQUEST_MAGIC : prng.int(2 ** 32), 0);
  header.writeUInt16BE(prng.chance(0.7) ? 0 : prng.int(1 << 16), 4);
  header.writeUInt16BE(prng.chance(0.9) ? prng.pick([0, 1, 3, 4, 5, 6, 7]) : prng.int(1 << 16), 6);
  header.writeBigUInt64BE(BigInt(prng.int(2 ** 32)), 8);
  const offset = prng.pick([
    0n,
    BigInt(prng.int(64 * MiB)),
    2n ** 64n - BigInt(prng.int(4096) + 1),
    2n ** 63n,
    BigInt(prng.int(2 ** 32)),
  ]);
  header.writeBigUInt64BE(offset, 16);
  const length = prng.pick([0, prng.int(65536), 2 ** 32 - 1, 64 * MiB + 1, prng.int(2 ** 32), 4096]);
  header.writeUInt32BE(length, 24);
  const type = header.readUInt16BE(6);
  if (type !== Command.Write) return header;
  // A write's payload: all of it, part of it (cut short), or none.
  const payloadBytes = Math.min(length, prng.pick([length, prng.int(length + 1), 0]), 256 * 1024);
  return Buffer.concat([header, prng.bytes(Math.min(payloadBytes, 64)), Buffer.alloc(Math.max(0, payloadBytes - 64))]);
}

/** One malformed conversation: its bytes, and whether the client vanishes right after. */
function fuzzCase(prng: Prng): FuzzCase {
  const kind = prng.int(6);
  const parts: Buffer[] = [];
  switch (kind) {
    case 0: // garbage where client flags belong
      parts.push(prng.bytes(prng.int(40)));
      break;
    case 1: // options with lengths near 2^32, random codes, truncated data
      parts.push(u32(3));
      for (let i = prng.int(4); i >= 0; i--) {
        const declared = prng.pick([prng.int(64), 2 ** 32 - 1, 2 ** 31, 70_000, prng.int(2 ** 32)]);
        parts.push(
          option(
            prng.chance(0.5) ? prng.int(16) : prng.int(2 ** 32),
            prng.bytes(Math.min(declared, prng.int(80))),
            declared,
          ),
        );
      }
      break;
    case 2: // well-formed option framing, garbage inside INFO/GO/meta-context data
      parts.push(u32(prng.pick([1, 3])));
      for (let i = prng.int(5); i >= 0; i--) {
        const data = prng.bytes(prng.int(48));
        parts.push(
          option(
            prng.pick([
              Option.Info,
              Option.Go,
              Option.ListMetaContext,
              Option.SetMetaContext,
              Option.List,
              Option.StructuredReply,
            ]),
            data,
          ),
        );
      }
      break;
    case 3: // EXPORT_NAME with odd names
      parts.push(u32(prng.int(4)), option(Option.ExportName, prng.bytes(prng.int(5000))));
      break;
    default: // transmission: a stream of random requests
      parts.push(handshakeBytes('default'));
      for (let i = prng.int(12); i >= 0; i--) parts.push(request(prng));
  }
  const bytes = Buffer.concat(parts);
  const cut = prng.chance(0.3) ? prng.int(bytes.length + 1) : bytes.length;
  return { bytes: bytes.subarray(0, cut), vanish: prng.chance(0.5) };
}

async function healthyRound(client: RawClient, round: number): Promise<void> {
  const payload = Buffer.alloc(4096, round & 0xff);
  const offset = (round % 256) * 4096;
  client.request(Command.Write, { cookie: BigInt(round), offset, payload });
  const written = await client.reply();
  if (written?.kind !== 'simple' || written.error !== 0)
    throw new Error(`healthy write failed: ${JSON.stringify(written)}`);
  client.request(Command.Read, { flags: 4, cookie: BigInt(round), offset, length: 4096 });
  const read = await client.reply();
  if (read?.kind !== 'chunk' || !read.data.subarray(8).equals(payload))
    throw new Error('healthy read returned wrong data');
}

test(`seeded fuzz (seed ${seed}): malformed input never crashes, never leaks, and a healthy connection keeps working`, async (t) => {
  t.timeout(5 * 60_000);
  const pool = new BufferPool({ maxBytes: 256 * MiB });
  const catalog = new NamedCatalog(
    new Map([
      ['default', new MemoryBackend(64 * MiB)],
      ['healthy', new MemoryBackend(2 * MiB)],
    ]),
  );
  const server = new NbdServer(catalog, pool, silentLogger());
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  const port = bound.kind === 'tcp' ? bound.port : 0;
  const healthy = await RawClient.connect(port);
  await healthy.go('healthy', { structured: true });

  const prng = new Prng(seed);
  let healthyRounds = 0;
  const heapAfterRound: number[] = [];
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < casesPerRound; i += 25) {
      const batch = Array.from({ length: 25 }, () => playCase(port, fuzzCase(prng)));
      await Promise.all(batch);
      await healthyRound(healthy, healthyRounds++);
    }
    while (server.connectionCount > 1) await new Promise((resolve) => setTimeout(resolve, 20));
    (globalThis as { gc?: () => void }).gc?.();
    heapAfterRound.push(process.memoryUsage().heapUsed);
  }
  t.is(server.connectionCount, 1, 'only the healthy connection remains');
  t.is(pool.leased, 0, 'every shared buffer came back');
  const growthBytes = heapAfterRound[1]! - heapAfterRound[0]!;
  t.log(
    `seed ${seed}: ${2 * casesPerRound} cases, heap ${(heapAfterRound[0]! / MiB).toFixed(1)} → ${(heapAfterRound[1]! / MiB).toFixed(1)} MiB, pool ${pool.sizeBytes / MiB} MiB`,
  );
  t.true(growthBytes < 8 * MiB, `heap grew ${growthBytes} bytes over a second round of ${casesPerRound} cases`);
  await healthyRound(healthy, healthyRounds);
  healthy.destroy();
  await server.close(1000);
  t.is(pool.leased, 0);
});
