import test from 'ava';
import { ActorRuntime } from '../src/actors/runtime.js';
import { address } from '../src/actors/address.js';
import { localClient } from '../src/actors/local-client.js';
import { Membership, type NodeRecord } from '../src/etcd/membership.js';
import { parseEtcdUrls } from '../src/etcd/connect.js';
import { followPeers } from '../src/cluster/peers.js';
import { linkNodes } from '../src/transport/node-links.js';
import { isWhorlError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import { spawnDisk } from '../src/storage/spawn-disk.js';
import type { DiskReply } from '../src/storage/disk-protocol.js';
import { startEtcd, type EtcdUnderTest } from './helpers/etcd.js';
import { freePort } from './helpers/ports.js';
import { temporaryDirectory } from './helpers/disk.js';

// One etcd (Debian's etcd-server, started here) for the file; each test has a prefix of its own.
let etcd: EtcdUnderTest;
let prefixes = 0;
test.before(async () => {
  etcd = await startEtcd();
});
test.after.always(async () => {
  await etcd?.stop();
});

const log = silentLogger();
const join = (node: string, prefix: string, ttlSeconds = 3) =>
  Membership.join({ urls: [etcd.url], prefix, node, peer: `127.0.0.1:${7000 + prefixes}`, log, ttlSeconds });

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test.serial('nodes see each other come and go; a second process with a taken name is refused', async (t) => {
  const prefix = `/test-${++prefixes}`;
  const first = await join('n1', prefix);
  t.teardown(() => first.leave());
  t.deepEqual([...first.nodes.keys()], ['n1']);
  t.true(first.holding);
  const seen: string[][] = [];
  first.onChange((nodes) => seen.push([...nodes.keys()].sort()));

  const error = await t.throwsAsync(join('n1', prefix));
  t.true(isWhorlError(error, 'WHORL_BAD_ARGUMENT'), String(error));
  t.regex(error!.message, /node name n1 is taken: another whorl process is running as it \(peer 127\.0\.0\.1:\d+, pid/);
  t.notRegex(error!.message, /\n/, 'one line');

  const second = await join('n2', prefix);
  t.deepEqual([...second.nodes.keys()].sort(), ['n1', 'n2']);
  await until(() => first.nodes.has('n2'));
  await second.leave();
  await until(() => !first.nodes.has('n2'));
  t.deepEqual(seen, [['n1', 'n2'], ['n1']]);
  // Its name is free again once it left.
  const again = await join('n2', prefix);
  await again.leave();
});

test.serial('a bad --etcd URL, a bad node name and an etcd nobody runs: one-line errors naming them', async (t) => {
  for (const bad of ['localhost:2379', 'ftp://127.0.0.1:2379', 'http://127.0.0.1', 'http://127.0.0.1:2379/v3']) {
    const error = t.throws(() => parseEtcdUrls(bad));
    t.true(isWhorlError(error, 'WHORL_BAD_ARGUMENT'));
    t.true(error!.message.includes(bad), error!.message);
  }
  t.deepEqual(parseEtcdUrls('http://10.0.0.1:2379,http://10.0.0.2:2379'), [
    'http://10.0.0.1:2379',
    'http://10.0.0.2:2379',
  ]);
  const name = await t.throwsAsync(join('no/slashes', `/test-${++prefixes}`));
  t.true(isWhorlError(name, 'WHORL_BAD_ARGUMENT'));
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const started = Date.now();
  const error = await t.throwsAsync(
    Membership.join({ urls: [nobody], prefix: '/x', node: 'n1', peer: '127.0.0.1:1', log }),
  );
  t.true(isWhorlError(error, 'WHORL_UNREACHABLE'), String(error));
  t.true(error!.message.startsWith(`etcd at ${nobody} is unreachable`), error!.message);
  t.notRegex(error!.message, /\n/);
  t.true(Date.now() - started < 15_000);
});

test.serial(
  'a node whose keepalives go unanswered stops holding its lease by its own clock, and holds it again when etcd answers',
  async (t) => {
    const prefix = `/test-${++prefixes}`;
    const node = await join('n1', prefix, 2);
    t.teardown(() => node.leave());
    let lostAt = 0;
    let regained = false;
    node.onLost(() => (lostAt = Date.now()));
    node.onRegained(() => (regained = true));
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    t.true(node.holding, 'keepalives renew it');
    const pausedAt = Date.now();
    etcd.pause();
    try {
      await until(() => lostAt > 0, 5_000);
      t.false(node.holding);
    } finally {
      etcd.resume();
    }
    // TTL 2 s: it let go before etcd could have expired the lease (its last renewal was before the pause).
    t.true(lostAt - pausedAt < 2_000, `let go ${lostAt - pausedAt} ms after the pause`);
    // etcd was only paused: the lease (and the node's key) lived on, and the next keepalive says so.
    await until(() => regained, 10_000);
    t.true(node.holding);
  },
);

test.serial(
  'nodes find each other through etcd and connect: a request crosses to a disk on the other node',
  async (t) => {
    const prefix = `/test-${++prefixes}`;
    const runtimes = await Promise.all(['a', 'b'].map((node) => ActorRuntime.start({ node, threads: 1, log })));
    const linked = await Promise.all(
      runtimes.map((runtime) => linkNodes(runtime, { cluster: prefix, log, listen: { host: '127.0.0.1', port: 0 } })),
    );
    const members = await Promise.all(
      runtimes.map((runtime, i) =>
        Membership.join({ urls: [etcd.url], prefix, node: runtime.node, peer: `127.0.0.1:${linked[i]!.port}`, log }),
      ),
    );
    t.teardown(async () => {
      for (const member of members) await member.leave();
      for (const { links } of linked) await links.close();
      for (const runtime of runtimes) await runtime.stop();
    });
    members.forEach((member, i) => {
      const follow = followPeers(member.node, linked[i]!.links);
      member.onChange(follow);
      follow(member.nodes as ReadonlyMap<string, NodeRecord>);
    });
    await until(() => linked[0]!.links.isUp('b') && linked[1]!.links.isUp('a'));
    await spawnDisk(runtimes[1]!, 'disk-0', {
      path: temporaryDirectory('whorl-membership-'),
      owner: 'server-0',
      capacityBytes: 64 * 1024 * 1024,
      create: true,
    });
    const reply = await localClient(runtimes[0]!, 'tester').request<DiskReply>(address('b', 'disk-0'), { op: 'stats' });
    t.like(reply, { ok: true, allocatedBytes: 0 });
    // b leaves: a forgets it and its link.
    await members[1]!.leave();
    await until(() => !linked[0]!.links.isUp('b'));
    t.false(members[0]!.nodes.has('b'));
  },
);

const controlModule = new URL('../src/control/control-actor.js', import.meta.url).pathname;
const etcdStorageModule = new URL('../src/etcd/etcd-storage.js', import.meta.url).pathname;

/** A control actor whose state lives in etcd, fenced by `fence` (as the monitor node runs it). */
async function startControl(prefix: string, fence: { key: string; createRevision: string }) {
  const runtime = await ActorRuntime.start({ node: 'm', threads: 1, log });
  await runtime.spawn(
    'control',
    {
      module: controlModule,
      export: 'controlActor',
      args: [{ servers: 2, subscribers: [], heartbeatTimeoutMs: 1500 }],
    },
    undefined,
    {
      module: etcdStorageModule,
      export: 'openEtcdStorage',
      args: [{ urls: [etcd.url], prefix, actor: 'control', fence }],
    },
  );
  return { runtime, client: localClient(runtime, 'admin') };
}

test.serial(
  'the control state lives in etcd: a control actor started anew (on any node) finds the disks',
  async (t) => {
    const prefix = `/test-${++prefixes}`;
    const node = await join('n1', prefix);
    t.teardown(() => node.leave());
    const fence = await node.claimMonitor();
    t.truthy(fence);
    t.deepEqual(await node.claimMonitor(), fence, 'claiming again while holding it gives the same fence');
    const first = await startControl(prefix, fence!);
    const created = await first.client.request<{ ok: boolean }>('control', {
      op: 'create',
      name: 'vd1',
      sizeBytes: 1 << 30,
      replicas: 2,
      stripeBytes: 64 * 1024,
    });
    t.like(created, { ok: true });
    await first.runtime.stop();
    const second = await startControl(prefix, fence!);
    t.teardown(() => second.runtime.stop());
    const { view } = await second.client.request<{ view: { disks: Array<{ name: string; sizeBytes: number }> } }>(
      'control',
      { op: 'view' },
    );
    t.deepEqual(
      view.disks.map((disk) => [disk.name, disk.sizeBytes]),
      [['vd1', 1 << 30]],
    );
  },
);

test.serial('a monitor that lost its role writes nothing: its fence no longer matches', async (t) => {
  const prefix = `/test-${++prefixes}`;
  const { EtcdStorage } = await import('../src/etcd/etcd-storage.js');
  const old = await join('n1', prefix);
  const oldFence = (await old.claimMonitor())!;
  const rival = await join('n2', prefix);
  t.teardown(() => rival.leave());
  t.is(await rival.claimMonitor(), undefined, 'n1 holds it');
  const stale = await EtcdStorage.open({ urls: [etcd.url], prefix, actor: 'control', fence: oldFence });
  t.teardown(() => stale.close());
  const outcomes: boolean[] = [];
  stale.onFlushed((_, ok) => outcomes.push(ok));
  stale.put('vdir:a', new TextEncoder().encode('"first"'));
  stale.flush();
  await until(() => outcomes.length === 1);
  t.deepEqual(outcomes, [true], 'the holder writes');
  // n1's lease goes (as when it is paused past its TTL); n2 takes the role.
  await old.leave();
  const newFence = (await rival.claimMonitor())!;
  t.truthy(newFence);
  t.not(newFence.createRevision, oldFence.createRevision);
  stale.put('vdir:a', new TextEncoder().encode('"late"'));
  stale.delete('vdir:b');
  stale.flush();
  await until(() => outcomes.length === 2);
  t.deepEqual(outcomes, [true, false], 'the old monitor is refused');
  const fresh = await EtcdStorage.open({ urls: [etcd.url], prefix, actor: 'control', fence: newFence });
  t.teardown(() => fresh.close());
  t.is(new TextDecoder().decode(fresh.get('vdir:a')), '"first"', 'its late write did not land');
});
