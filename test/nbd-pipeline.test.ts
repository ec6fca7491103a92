import test from 'ava';
import { MemoryBackend } from '../src/backends/memory.js';
import { Command } from '../src/nbd/protocol.js';
import { RawClient } from './helpers/raw-client.js';
import { startServer } from './helpers/server.js';

/** A memory disk whose reads take longer the lower their offset: later requests overtake. */
class SlowLowReads extends MemoryBackend {
  override async read(offsetBytes: number, into: Buffer): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 200 - offsetBytes / 4096)));
    return super.read(offsetBytes, into);
  }
}

test('pipelined requests are answered out of order, each cookie exactly once', async (t) => {
  const backend = new SlowLowReads(16 * 1024 * 1024);
  const served = await startServer(backend);
  const client = await RawClient.connect(served.port);
  await client.go();
  const count = 64;
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(4096, i + 1);
    client.request(Command.Write, { cookie: BigInt(1000 + i), offset: i * 4096 * 4, payload });
  }
  for (let i = 0; i < count; i++) {
    const reply = await client.reply();
    t.is(reply?.kind === 'simple' ? reply.error : -1, 0);
  }
  for (let i = 0; i < count; i++)
    client.request(Command.Read, { cookie: BigInt(i), offset: i * 4096 * 4, length: 4096 });
  const order: number[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await client.reply();
    if (reply?.kind !== 'simple') return t.fail('expected a simple reply');
    t.is(reply.error, 0);
    const cookie = Number(reply.cookie);
    const data = await client.mustRead(4096);
    t.true(
      data.every((byte) => byte === cookie + 1),
      `data of cookie ${cookie}`,
    );
    order.push(cookie);
  }
  t.deepEqual(
    [...order].sort((a, b) => a - b),
    [...Array(count).keys()],
    'every cookie answered once',
  );
  t.true(order[0]! > order[count - 1]!, `later requests overtook earlier ones: ${order.slice(0, 8).join(',')}…`);
  client.request(Command.Disc);
  await client.closed;
  await served.close();
  t.is(served.pool.leased, 0);
});
