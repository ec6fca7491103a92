import test from 'ava';
import { MemoryBackend } from '../src/backends/memory.js';
import {
  ChunkType,
  CMD_FLAG_DF,
  CMD_FLAG_FAST_ZERO,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  CMD_FLAG_REQ_ONE,
  Command,
  Errno,
} from '../src/nbd/protocol.js';
import { RawClient, type TransmissionReply } from './helpers/raw-client.js';
import { startServer } from './helpers/server.js';

const MiB = 1024 * 1024;

function simpleError(reply: TransmissionReply | undefined): number {
  if (reply?.kind !== 'simple') throw new Error(`expected a simple reply, got ${JSON.stringify(reply)}`);
  return reply.error;
}

test('each bad request gets the spec error and the connection carries on', async (t) => {
  const served = await startServer(new MemoryBackend(8 * MiB));
  const client = await RawClient.connect(served.port);
  await client.go();
  const cases: Array<[string, () => void, number]> = [
    ['read past end', () => client.request(Command.Read, { offset: 8 * MiB - 512, length: 1024 }), Errno.EINVAL],
    [
      'read at offset near 2^64',
      () => client.request(Command.Read, { offset: 2n ** 64n - 512n, length: 1024 }),
      Errno.EINVAL,
    ],
    [
      'write past end',
      () => client.request(Command.Write, { offset: 8 * MiB, payload: Buffer.alloc(4096, 1) }),
      Errno.ENOSPC,
    ],
    [
      'zero past end',
      () => client.request(Command.WriteZeroes, { offset: 8 * MiB - 4096, length: 8192 }),
      Errno.ENOSPC,
    ],
    ['trim past end', () => client.request(Command.Trim, { offset: 9 * MiB, length: 1 }), Errno.EINVAL],
    ['cache past end', () => client.request(Command.Cache, { offset: 9 * MiB, length: 1 }), Errno.EINVAL],
    ['unknown command', () => client.request(42, { length: 10 }), Errno.EINVAL],
    ['unknown flag', () => client.request(Command.Read, { flags: 1 << 9, length: 512 }), Errno.EINVAL],
    [
      'DF without structured replies',
      () => client.request(Command.Read, { flags: CMD_FLAG_DF, length: 512 }),
      Errno.EINVAL,
    ],
    [
      'NO_HOLE on a write',
      () => client.request(Command.Write, { flags: CMD_FLAG_NO_HOLE, payload: Buffer.alloc(512) }),
      Errno.EINVAL,
    ],
    ['block status without a meta context', () => client.request(Command.BlockStatus, { length: 4096 }), Errno.EINVAL],
    ['read longer than 64 MiB', () => client.request(Command.Read, { length: 65 * MiB }), Errno.EINVAL],
    ['zero-length read', () => client.request(Command.Read, { length: 0 }), Errno.OK],
    ['zero-length write', () => client.request(Command.Write, { length: 0 }), Errno.OK],
    ['zero-length trim', () => client.request(Command.Trim, { length: 0 }), Errno.OK],
    [
      'FUA write',
      () => client.request(Command.Write, { flags: CMD_FLAG_FUA, offset: 4096, payload: Buffer.alloc(4096, 7) }),
      Errno.OK,
    ],
    ['flush', () => client.request(Command.Flush), Errno.OK],
    ['cache', () => client.request(Command.Cache, { length: MiB }), Errno.OK],
    [
      'fast zero',
      () =>
        client.request(Command.WriteZeroes, { flags: CMD_FLAG_FAST_ZERO | CMD_FLAG_NO_HOLE, offset: MiB, length: MiB }),
      Errno.OK,
    ],
  ];
  for (const [name, send, errno] of cases) {
    send();
    t.is(simpleError(await client.reply()), errno, name);
  }
  client.request(Command.Read, { offset: 4096, length: 4096, cookie: 0xfeedfacecafebeefn });
  const reply = await client.reply();
  t.is(reply?.cookie, 0xfeedfacecafebeefn, 'cookie echoed verbatim');
  t.true(
    (await client.mustRead(4096)).every((b) => b === 7),
    'the FUA write landed; failed writes changed nothing',
  );
  client.request(Command.Disc);
  await client.closed;
  await served.close();
  t.is(served.pool.leased, 0);
});

test('a write longer than 64 MiB has its payload drained and is refused', async (t) => {
  const served = await startServer(new MemoryBackend(64 * MiB));
  const client = await RawClient.connect(served.port);
  await client.go();
  client.request(Command.Write, { payload: Buffer.alloc(65 * MiB, 9) });
  t.is(simpleError(await client.reply()), Errno.EINVAL);
  client.request(Command.Read, { length: 512 });
  t.is(simpleError(await client.reply()), Errno.OK);
  t.true(
    (await client.mustRead(512)).every((b) => b === 0),
    'nothing of the refused write landed',
  );
  client.destroy();
  await served.close();
  t.is(served.pool.leased, 0);
});

test('a read-only export refuses writes, trims and zeroes with EPERM', async (t) => {
  const served = await startServer(new MemoryBackend(8 * MiB, { readOnly: true }));
  const client = await RawClient.connect(served.port);
  const replies = await client.go();
  const flags = replies[0]!.data.readUInt16BE(10);
  t.is(flags & 2, 2, 'READ_ONLY advertised');
  client.request(Command.Write, { payload: Buffer.alloc(512) });
  t.is(simpleError(await client.reply()), Errno.EPERM);
  client.request(Command.Trim, { length: 512 });
  t.is(simpleError(await client.reply()), Errno.EPERM);
  client.request(Command.WriteZeroes, { length: 512 });
  t.is(simpleError(await client.reply()), Errno.EPERM);
  client.destroy();
  await served.close();
});

test('huge TRIM and WRITE_ZEROES (4 GiB) are answered, never a disconnect', async (t) => {
  const served = await startServer(new MemoryBackend(16 * 1024 * MiB));
  const client = await RawClient.connect(served.port);
  await client.go();
  client.request(Command.Write, { offset: 3 * 1024 * MiB, payload: Buffer.alloc(4096, 3) });
  t.is(simpleError(await client.reply()), Errno.OK);
  client.request(Command.Trim, { offset: 0, length: 2 ** 32 - 4096 });
  t.is(simpleError(await client.reply()), Errno.OK);
  client.request(Command.WriteZeroes, { offset: 2 ** 32, length: 2 ** 32 - 512 });
  t.is(simpleError(await client.reply()), Errno.OK);
  client.request(Command.Read, { offset: 3 * 1024 * MiB, length: 4096 });
  t.is(simpleError(await client.reply()), Errno.OK);
  t.true((await client.mustRead(4096)).every((b) => b === 0));
  client.destroy();
  await served.close();
});

test('structured replies: sparse reads send holes, DF sends one chunk, errors come as error chunks', async (t) => {
  const served = await startServer(new MemoryBackend(8 * MiB));
  const client = await RawClient.connect(served.port);
  await client.go('default', { structured: true, metaContext: true });
  client.request(Command.Write, { offset: 128 * 1024, payload: Buffer.alloc(64 * 1024, 0xcd) });
  t.is(simpleError(await client.reply()), Errno.OK);

  client.request(Command.Read, { cookie: 5n, offset: 0, length: 512 * 1024 });
  const chunks = [];
  for (;;) {
    const chunk = await client.reply();
    if (chunk?.kind !== 'chunk') return t.fail('expected chunks');
    chunks.push(chunk);
    if (chunk.flags & 1) break;
  }
  t.deepEqual(
    chunks.map((c) => c.type),
    [ChunkType.OffsetHole, ChunkType.OffsetData, ChunkType.OffsetHole],
  );
  t.deepEqual([Number(chunks[0]!.data.readBigUInt64BE(0)), chunks[0]!.data.readUInt32BE(8)], [0, 128 * 1024]);
  t.is(Number(chunks[1]!.data.readBigUInt64BE(0)), 128 * 1024);
  t.true(chunks[1]!.data.subarray(8).every((b) => b === 0xcd));
  t.is(chunks[1]!.data.length - 8, 64 * 1024);
  t.deepEqual([Number(chunks[2]!.data.readBigUInt64BE(0)), chunks[2]!.data.readUInt32BE(8)], [192 * 1024, 320 * 1024]);

  client.request(Command.Read, { flags: CMD_FLAG_DF, offset: 0, length: 256 * 1024 });
  const whole = await client.reply();
  t.is(whole?.kind === 'chunk' ? whole.type : -1, ChunkType.OffsetData);
  t.is(whole?.kind === 'chunk' ? whole.flags & 1 : -1, 1);

  client.request(Command.Read, { offset: 8 * MiB, length: 512 });
  const error = await client.reply();
  t.is(error?.kind === 'chunk' ? error.type : -1, ChunkType.Error);
  t.is(error?.kind === 'chunk' ? error.data.readUInt32BE(0) : -1, Errno.EINVAL);

  client.request(Command.Read, { length: 0 });
  const none = await client.reply();
  t.deepEqual(none?.kind === 'chunk' ? [none.type, none.flags] : [], [ChunkType.None, 1]);
  client.destroy();
  await served.close();
  t.is(served.pool.leased, 0);
});

test('BLOCK_STATUS: extents from the request offset; REQ_ONE gives exactly one', async (t) => {
  const served = await startServer(new MemoryBackend(8 * MiB));
  const client = await RawClient.connect(served.port);
  await client.go('default', { structured: true, metaContext: true });
  client.request(Command.Write, { offset: MiB, payload: Buffer.alloc(MiB, 1) });
  t.is(simpleError(await client.reply()), Errno.OK);
  const extentsOf = (chunk: TransmissionReply | undefined): number[][] => {
    if (chunk?.kind !== 'chunk' || chunk.type !== ChunkType.BlockStatus) throw new Error('expected BLOCK_STATUS');
    t.is(chunk.data.readUInt32BE(0), 1, 'context id of base:allocation');
    const out = [];
    for (let at = 4; at < chunk.data.length; at += 8)
      out.push([chunk.data.readUInt32BE(at), chunk.data.readUInt32BE(at + 4)]);
    return out;
  };
  client.request(Command.BlockStatus, { offset: 512 * 1024, length: 2 * MiB });
  t.deepEqual(extentsOf(await client.reply()), [
    [512 * 1024, 3],
    [MiB, 0],
    [512 * 1024, 3],
  ]);
  client.request(Command.BlockStatus, { flags: CMD_FLAG_REQ_ONE, offset: MiB + 4096, length: 4096 });
  t.deepEqual(extentsOf(await client.reply()), [[4096, 0]]);
  client.request(Command.BlockStatus, { offset: 0, length: 0 });
  const zero = await client.reply();
  t.is(zero?.kind === 'chunk' ? zero.type : -1, ChunkType.Error, 'zero-length status is refused');
  client.destroy();
  await served.close();
});

test('a bad request magic closes that connection only', async (t) => {
  const served = await startServer(new MemoryBackend(8 * MiB));
  const healthy = await RawClient.connect(served.port);
  await healthy.go();
  const broken = await RawClient.connect(served.port);
  await broken.go();
  broken.write(Buffer.alloc(28, 0x41));
  await broken.closed;
  healthy.request(Command.Read, { length: 4096 });
  t.is(simpleError(await healthy.reply()), Errno.OK);
  healthy.destroy();
  await served.close();
});
