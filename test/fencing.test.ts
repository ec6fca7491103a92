import test from 'ava';
import { Command } from '../src/nbd/protocol.js';
import { pattern, startDisk, temporaryDirectory } from './helpers/disk.js';
import { RawClient, type TransmissionReply } from './helpers/raw-client.js';
import { servedCluster } from './helpers/served-cluster.js';

const group = 'group-0';
const errorOf = (reply: TransmissionReply | undefined): number => {
  if (reply?.kind !== 'simple') throw new Error('expected a simple reply');
  return reply.error;
};
const fence = (term: number, name = group) => ({ group: name, term });

test('a copy refuses a write from an older term of a group once it has accepted a newer one, and changes nothing', async (t) => {
  const dir = temporaryDirectory();
  let disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  t.deepEqual(await disk.write(1, 0, 5, [pattern(1)], false, fence(1)), { ok: true });
  t.deepEqual(await disk.write(1, 0, 5, [pattern(3)], false, fence(3)), { ok: true }, 'a newer term is accepted');

  const stale = await disk.write(1, 0, 5, [pattern(2)], false, fence(2));
  t.like(stale, { ok: false, code: 'WHORL_STALE_TERM' });
  t.regex(stale.ok ? '' : stale.message, /group-0 term 2 is older than term 3/);
  t.is((await disk.read(1, 0, 5, 1)).bytes[0], 3, 'the refused write changed nothing');
  t.like(await disk.ask({ op: 'trim', gmap: 1, epoch: 0, block: 5, count: 1, fua: false, fence: fence(2) }), {
    code: 'WHORL_STALE_TERM',
  });
  t.like(await disk.ask({ op: 'setMarks', kind: 'stale', gmap: 1, regions: [0], fence: fence(2) }), {
    code: 'WHORL_STALE_TERM',
  });
  t.deepEqual(await disk.ask({ op: 'listMarks', kind: 'stale' }), { ok: true, marks: [] }, 'no mark was set');
  t.like(await disk.ask({ op: 'clearMarks', kind: 'busy', gmap: 1, regions: [0], fence: fence(1) }), {
    code: 'WHORL_STALE_TERM',
  });
  t.is((await disk.read(1, 0, 5, 1)).bytes[0], 3, 'nor did the refused trim');

  t.deepEqual(await disk.write(1, 0, 6, [pattern(7)], false, fence(1, 'group-3')), { ok: true }, 'terms are per group');
  t.deepEqual(await disk.write(1, 0, 6, [pattern(8)], false, fence(3)), { ok: true }, 'the current term writes on');

  // The newer term reached stable storage with the data it came with: after a restart the old
  // coordinator is still refused.
  t.deepEqual(await disk.ask({ op: 'flush' }), { ok: true });
  await disk.stop();
  disk = await startDisk({ path: dir, create: false });
  t.like(await disk.write(1, 0, 5, [pattern(2)], false, fence(2)), { ok: false, code: 'WHORL_STALE_TERM' });
  t.is((await disk.read(1, 0, 5, 1)).bytes[0], 3);
  t.deepEqual(await disk.write(1, 0, 5, [pattern(4)], true, fence(4)), { ok: true });
  t.is((await disk.read(1, 0, 5, 1)).bytes[0], 4);
});

test('a malformed fence is a bad argument that changes nothing', async (t) => {
  const disk = await startDisk({ path: temporaryDirectory() });
  t.teardown(() => disk.stop());
  for (const bad of [fence(0), fence(1.5), fence(1, ''), fence(1, 'x'.repeat(65)), { group, term: '2' }]) {
    const reply = await disk.write(1, 0, 5, [pattern(9)], false, bad as never);
    t.like(reply, { ok: false, code: 'WHORL_BAD_ARGUMENT' });
    t.regex(reply.ok ? '' : reply.message, /^fence /);
  }
  t.deepEqual((await disk.read(1, 0, 5, 1)).reply, { ok: true, holes: [0] });
});

test('a replica group whose term a copy has moved past steps down; its next incarnation claims a newer term and writes on', async (t) => {
  const { cluster, port } = await servedCluster(t, 'whorl-fence-');
  const client = await RawClient.connect(port);
  t.teardown(() => client.destroy());
  await client.go();
  const write = async (byte: number): Promise<number> => {
    client.request(Command.Write, { offset: 0, payload: pattern(byte) });
    return errorOf(await client.reply());
  };
  const termNow = async (): Promise<number> => {
    const reply = await cluster.router.control({ op: 'term', group: 'group-0' });
    if (!reply.ok || reply.term === undefined) throw new Error('no term');
    return reply.term;
  };
  const copyOf = async (id: number): Promise<number> => {
    const lease = await cluster.runtime.pool.lease(4096);
    try {
      const { gmap, epoch } = cluster.router.disk('default');
      const reply = await cluster.router.server(id, {
        op: 'read',
        gmap,
        epoch,
        block: 0,
        count: 1,
        handle: lease.handle,
      });
      t.true(reply.ok);
      return lease.bytes[0]!;
    } finally {
      cluster.runtime.pool.release(lease.handle);
    }
  };

  // Block 0 is unit 0: group-0 coordinates it, primary server 0, secondary server 1.
  t.is(await write(1), 0);
  // A newer coordinator of group-0 (as a failover makes one) claims a term and writes both copies.
  const newer = await termNow();
  const lease = await cluster.runtime.pool.lease(4096);
  lease.bytes.fill(2);
  const { gmap, epoch } = cluster.router.disk('default');
  const fence = { group: 'group-0', term: newer };
  const body = { op: 'write', gmap, epoch, block: 0, count: 1, handle: lease.handle, fua: true, fence } as const;
  t.like(await cluster.router.server(0, body), { ok: true });
  t.like(await cluster.router.server(1, body), { ok: true });
  cluster.runtime.pool.release(lease.handle);

  // The old incarnation's next write is refused by both copies: it steps down with the write unanswered.
  t.not(await write(3), 0, 'the write the old term carried fails');
  t.deepEqual([await copyOf(0), await copyOf(1)], [2, 2], 'both copies kept the newer term’s data');
  // Its next incarnation waits for a term of its own before it writes: once a write went through,
  // the term it claimed lies between ours and the next one handed out.
  let error = await write(4);
  for (let tries = 0; error !== 0 && tries < 50; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    error = await write(4);
  }
  t.is(error, 0, 'the group writes on in a newer term');
  t.is(await termNow(), newer + 2);
  client.request(Command.Flush);
  t.is(errorOf(await client.reply()), 0);
  t.deepEqual([await copyOf(0), await copyOf(1)], [4, 4]);
});
