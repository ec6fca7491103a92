import test from 'ava';
import { MemoryBackend } from '../src/backends/memory.js';
import { Command } from '../src/nbd/protocol.js';
import { inFlightMax } from '../src/nbd/transmission.js';
import { RawClient } from './helpers/raw-client.js';
import { startServer } from './helpers/server.js';

/** Writes wait at a gate until the test opens it; counts how many are waiting. */
class GatedWrites extends MemoryBackend {
  waiting = 0;
  private opened = false;
  private readonly waiters: Array<() => void> = [];

  override async write(offsetBytes: number, from: Buffer, fua: boolean): Promise<void> {
    this.waiting += 1;
    if (!this.opened) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.waiting -= 1;
    return super.write(offsetBytes, from, fua);
  }

  open(): void {
    this.opened = true;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

test('a connection holds at most inFlightMax requests and stops reading its socket past that', async (t) => {
  const backend = new GatedWrites(64 * 1024 * 1024);
  const served = await startServer(backend);
  const client = await RawClient.connect(served.port);
  await client.go();
  const count = inFlightMax * 3;
  for (let i = 0; i < count; i++)
    client.request(Command.Write, { cookie: BigInt(i), offset: (i % 1024) * 4096, payload: Buffer.alloc(4096, 1) });
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(backend.waiting, inFlightMax, 'the rest wait in the socket, not in memory');
  backend.open();
  const answered = new Set<bigint>();
  for (let i = 0; i < count; i++) {
    const reply = await client.reply();
    if (reply?.kind !== 'simple' || reply.error !== 0) return t.fail(`reply ${i}: ${JSON.stringify(reply)}`);
    answered.add(reply.cookie);
  }
  t.is(answered.size, count, 'every request was answered once the backend moved');
  client.destroy();
  await served.close();
  t.is(served.pool.leased, 0);
});
