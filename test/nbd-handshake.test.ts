import test from 'ava';
import { MemoryBackend } from '../src/backends/memory.js';
import { FLAG_FIXED_NEWSTYLE, InfoType, Option, Reply } from '../src/nbd/protocol.js';
import { goData, metaContextData, RawClient } from './helpers/raw-client.js';
import { startServer } from './helpers/server.js';

const size = 8 * 1024 * 1024;

test('greeting offers fixed newstyle and no zeroes; unknown options get ERR_UNSUP and haggling goes on', async (t) => {
  const served = await startServer(new MemoryBackend(size));
  const client = await RawClient.connect(served.port);
  t.is(await client.greet(), 3);
  for (const option of [99, Option.StartTls, Option.ExtendedHeaders, 0x7fffffff]) {
    client.sendOption(option, Buffer.from('ignored payload'));
    const [reply] = await client.optionReplies();
    t.is(reply!.type, Reply.ErrUnsup, `option ${option}`);
    t.is(reply!.option, option);
  }
  client.sendOption(Option.Go, goData('default', []));
  const replies = await client.optionReplies();
  t.is(replies[replies.length - 1]!.type, Reply.Ack);
  client.destroy();
  await served.close();
});

test('LIST sends one SERVER reply per export with correct lengths, then ACK', async (t) => {
  const served = await startServer(new MemoryBackend(size, { description: 'the disk' }));
  const client = await RawClient.connect(served.port);
  await client.greet();
  client.sendOption(Option.List);
  const replies = await client.optionReplies();
  t.is(replies.length, 2);
  const server = replies[0]!;
  t.is(server.type, Reply.Server);
  const nameBytes = server.data.readUInt32BE(0);
  t.is(server.data.toString('utf8', 4, 4 + nameBytes), 'default');
  t.is(server.data.toString('utf8', 4 + nameBytes), 'the disk');
  client.sendOption(Option.List, Buffer.from('junk'));
  t.is((await client.optionReplies())[0]!.type, Reply.ErrInvalid, 'LIST with data is invalid');
  client.destroy();
  await served.close();
});

test('INFO answers EXPORT, NAME, DESCRIPTION and BLOCK_SIZE; unknown exports get ERR_UNKNOWN', async (t) => {
  const served = await startServer(new MemoryBackend(size, { description: 'desc' }));
  const client = await RawClient.connect(served.port);
  await client.greet();
  client.sendOption(Option.Info, goData('', [InfoType.Name, InfoType.Description, InfoType.BlockSize]));
  const replies = await client.optionReplies();
  const infos = replies.filter((r) => r.type === Reply.Info).map((r) => r.data);
  t.is(infos[0]!.readUInt16BE(0), InfoType.Export, 'EXPORT comes first');
  t.is(Number(infos[0]!.readBigUInt64BE(2)), size);
  t.truthy(infos.find((d) => d.readUInt16BE(0) === InfoType.Name && d.toString('utf8', 2) === ''));
  t.truthy(infos.find((d) => d.readUInt16BE(0) === InfoType.Description && d.toString('utf8', 2) === 'desc'));
  const blockSize = infos.find((d) => d.readUInt16BE(0) === InfoType.BlockSize)!;
  t.deepEqual(
    [blockSize.readUInt32BE(2), blockSize.readUInt32BE(6), blockSize.readUInt32BE(10)],
    [1, 4096, 64 * 1024 * 1024],
  );
  t.is(replies[replies.length - 1]!.type, Reply.Ack);

  client.sendOption(Option.Go, goData('nope', []));
  const [unknown] = await client.optionReplies();
  t.is(unknown!.type, Reply.ErrUnknown);
  t.regex(unknown!.data.toString(), /nope/);

  client.sendOption(Option.Info, Buffer.from([0, 0, 0, 200, 1, 2]));
  t.is((await client.optionReplies())[0]!.type, Reply.ErrInvalid, 'a name longer than the option is invalid');
  client.destroy();
  await served.close();
});

test('meta contexts: LIST offers base:allocation; SET needs structured replies', async (t) => {
  const served = await startServer(new MemoryBackend(size));
  const client = await RawClient.connect(served.port);
  await client.greet();
  client.sendOption(Option.SetMetaContext, metaContextData('default', ['base:allocation']));
  t.is((await client.optionReplies())[0]!.type, Reply.ErrInvalid);
  client.sendOption(Option.ListMetaContext, metaContextData('default', []));
  const listed = await client.optionReplies();
  t.is(listed[0]!.type, Reply.MetaContext);
  t.is(listed[0]!.data.toString('utf8', 4), 'base:allocation');
  client.sendOption(Option.StructuredReply);
  t.is((await client.optionReplies())[0]!.type, Reply.Ack);
  client.sendOption(Option.SetMetaContext, metaContextData('default', ['qemu:dirty-bitmap:x', 'base:allocation']));
  const set = await client.optionReplies();
  t.deepEqual(
    set.map((r) => r.type),
    [Reply.MetaContext, Reply.Ack],
    'unknown queries are ignored',
  );
  t.is(set[0]!.data.readUInt32BE(0), 1);
  client.sendOption(Option.SetMetaContext, metaContextData('default', ['other:thing']));
  t.deepEqual(
    (await client.optionReplies()).map((r) => r.type),
    [Reply.Ack],
    'no match selects nothing',
  );
  client.destroy();
  await served.close();
});

test('EXPORT_NAME answers size and flags, with 124 zeroes unless NO_ZEROES; unknown names close', async (t) => {
  const served = await startServer(new MemoryBackend(size));
  for (const [flags, expected] of [
    [FLAG_FIXED_NEWSTYLE, 134],
    [3, 10],
  ] as const) {
    const client = await RawClient.connect(served.port);
    await client.greet(flags);
    client.sendOption(Option.ExportName, Buffer.from('default'));
    const answer = await client.mustRead(expected);
    t.is(Number(answer.readBigUInt64BE(0)), size);
    t.is(answer.readUInt16BE(8) & 1, 1, 'HAS_FLAGS');
    t.is(await client.read(1, 200).catch(() => 'nothing more'), 'nothing more');
    client.destroy();
  }
  const unknown = await RawClient.connect(served.port);
  await unknown.greet();
  unknown.sendOption(Option.ExportName, Buffer.from('missing'));
  t.is(await unknown.read(1), undefined, 'closed');
  await served.close();
});

test('ABORT is acknowledged and closes; bad client flags and bad option magic close', async (t) => {
  const served = await startServer(new MemoryBackend(size));
  const aborting = await RawClient.connect(served.port);
  await aborting.greet();
  aborting.sendOption(Option.Abort);
  t.is((await aborting.optionReply()).type, Reply.Ack);
  await aborting.closed;

  const badFlags = await RawClient.connect(served.port);
  await badFlags.greet(0x80);
  await badFlags.closed;

  const badMagic = await RawClient.connect(served.port);
  await badMagic.greet();
  badMagic.write(Buffer.alloc(16, 0xee));
  await badMagic.closed;

  const tooBig = await RawClient.connect(served.port);
  await tooBig.greet();
  tooBig.sendOption(77, Buffer.alloc(100_000), 100_000);
  t.is((await tooBig.optionReply()).type, Reply.ErrTooBig, 'an oversized option is skipped and refused');
  await tooBig.go('default', { greeted: true });
  tooBig.destroy();
  t.pass();
  await served.close();
});
