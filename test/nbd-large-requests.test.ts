import test from 'ava';
import { Command, Option } from '../src/nbd/protocol.js';
import { goData, RawClient } from './helpers/raw-client.js';
import { startServerOf, type BackendKind } from './helpers/server.js';

const MiB = 1024 * 1024;
const infoBlockSize = 3;
const repInfo = 3;

/** 48 MiB that differ block to block, so a misplaced or missing piece shows. */
function payload(): Buffer {
  const bytes = Buffer.alloc(48 * MiB);
  for (let at = 0; at < bytes.length; at += 4) bytes.writeUInt32LE((at * 2654435761) >>> 0, at);
  return bytes;
}

/**
 * Clients that never ask for block sizes may send requests up to 64 MiB, as nbdkit and the
 * reference server accept them (a client sending 47.5 MiB WRITEs got EINVAL when the limit was
 * 32 MiB). The maximum whorl advertises says 64 MiB, and a 48 MiB write is read straight into one
 * pool slot: the memory backend's pool grows by that slot and no second copy.
 */
for (const kind of ['memory', 'cluster'] as BackendKind[]) {
  test(`${kind}: a client that asks for no block sizes writes and reads back 48 MiB in one request each`, async (t) => {
    t.timeout(120_000);
    const served = await startServerOf(kind, 128 * MiB);
    t.teardown(() => served.close());

    const asking = await RawClient.connect(served.port);
    await asking.greet();
    asking.sendOption(Option.Go, goData('default', [infoBlockSize]));
    const sizes = (await asking.optionReplies()).find(
      (reply) => reply.type === repInfo && reply.data.readUInt16BE(0) === infoBlockSize,
    );
    t.is(sizes?.data.readUInt32BE(10), 64 * MiB, 'the advertised maximum block size');
    asking.destroy();

    const client = await RawClient.connect(served.port);
    t.teardown(() => client.destroy());
    await client.go();
    const poolBefore = served.pool.sizeBytes;
    const data = payload();
    client.request(Command.Write, { cookie: 1n, offset: 4096, payload: data });
    t.like(await client.reply(30_000), { kind: 'simple', error: 0 });
    client.request(Command.Flush, { cookie: 2n });
    t.like(await client.reply(30_000), { kind: 'simple', error: 0 });
    client.request(Command.Read, { cookie: 3n, offset: 4096, length: data.length });
    t.like(await client.reply(30_000), { kind: 'simple', error: 0 });
    const back = await client.read(data.length, 30_000);
    t.true(back?.equals(data), 'the 48 MiB read back are the 48 MiB written');
    if (kind === 'memory')
      t.true(
        served.pool.sizeBytes - poolBefore <= 64 * MiB,
        `pool grew by ${served.pool.sizeBytes - poolBefore} bytes`,
      );
  });
}
