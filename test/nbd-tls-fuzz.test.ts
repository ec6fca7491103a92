import fs from 'node:fs';
import test from 'ava';
import { BufferPool } from '../src/actors/buffer-pool.js';
import { MemoryBackend } from '../src/backends/memory.js';
import { silentLogger } from '../src/log.js';
import { Command, Option } from '../src/nbd/protocol.js';
import { NbdServer } from '../src/nbd/server.js';
import { tlsPolicy } from '../src/nbd/tls-policy.js';
import { Prng } from '../src/prng.js';
import { NamedCatalog } from './helpers/catalog.js';
import { temporaryDirectory } from './helpers/disk.js';
import { option, playCase, type FuzzCase } from './helpers/fuzz.js';
import { RawClient } from './helpers/raw-client.js';
import { runOk } from './helpers/run.js';
import { makeCredentials } from './helpers/tls-certs.js';

const MiB = 1024 * 1024;
const seed = Number(process.env['FUZZ_SEED'] ?? 20261207);
const cases = Number(process.env['FUZZ_CASES'] ?? 600);

/** What a hostile or broken client sends around STARTTLS: then garbage where TLS should be. */
function fuzzCase(prng: Prng): FuzzCase {
  const flags = Buffer.alloc(4);
  flags.writeUInt32BE(3);
  const parts: Buffer[] = [flags];
  switch (prng.int(5)) {
    case 0: // STARTTLS with data
      parts.push(option(Option.StartTls, prng.bytes(1 + prng.int(64))));
      break;
    case 1: // bytes sent ahead of the TLS handshake, in the same write as STARTTLS
      parts.push(option(Option.StartTls, Buffer.alloc(0)), prng.bytes(prng.int(600)));
      break;
    case 2: {
      // a TLS record header with a random length and body: a broken ClientHello
      const record = Buffer.from([0x16, 0x03, prng.int(5), prng.int(256), prng.int(256)]);
      parts.push(option(Option.StartTls, Buffer.alloc(0)), record, prng.bytes(prng.int(3000)));
      break;
    }
    case 3: // STARTTLS twice, then random options
      parts.push(option(Option.StartTls, Buffer.alloc(0)), option(Option.StartTls, Buffer.alloc(0)));
      parts.push(option(prng.int(16), prng.bytes(prng.int(100))));
      break;
    default: // plain garbage after the greeting
      parts.push(prng.bytes(prng.int(2000)));
  }
  const bytes = Buffer.concat(parts);
  const cut = prng.chance(0.3) ? prng.int(bytes.length + 1) : bytes.length;
  return { bytes: bytes.subarray(0, cut), vanish: prng.chance(0.5) };
}

test(`TLS fuzz (seed ${seed}): garbage at the TLS handshake never crashes or leaks; other connections carry on`, async (t) => {
  t.timeout(5 * 60_000);
  const root = temporaryDirectory('whorl-tls-fuzz-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const credentials = makeCredentials(root);
  const pool = new BufferPool({ maxBytes: 256 * MiB });
  const catalog = new NamedCatalog(new Map([['default', new MemoryBackend(8 * MiB)]]));
  const server = new NbdServer(catalog, pool, silentLogger(), tlsPolicy('on', { certificatesDir: credentials.server }));
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  const port = bound.kind === 'tcp' ? bound.port : 0;
  const healthy = await RawClient.connect(port);
  await healthy.go('default');

  const prng = new Prng(seed);
  for (let i = 0; i < cases; i += 20) {
    await Promise.all(Array.from({ length: 20 }, () => playCase(port, fuzzCase(prng))));
    const payload = Buffer.alloc(4096, i & 0xff);
    healthy.request(Command.Write, { cookie: BigInt(i), offset: 0, payload });
    t.like(await healthy.reply(), { kind: 'simple', error: 0 });
  }
  const secure = `nbds://127.0.0.1:${port}/default?tls-certificates=${credentials.client}`;
  t.is((await runOk('nbdinfo', ['--size', secure])).stdout.trim(), String(8 * MiB), 'a real TLS client still gets in');
  while (server.connectionCount > 1) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(server.connectionCount, 1, 'only the healthy connection remains');
  healthy.destroy();
  await server.close(1000);
  t.is(pool.leased, 0, 'every shared buffer came back');
});
