import test from 'ava';
import { address } from '../src/actors/address.js';
import { simRouterHost, spawnClusterActors } from '../src/sim/cluster/cluster-actors.js';
import { Simulation } from '../src/sim/simulation.js';
import { Router } from '../src/volumes/router.js';

const servers = 4;

/** The cluster's actors on the simulator with no faults, and the real router in front of them. */
function cluster(): { sim: Simulation; router: Router; run: <T>(work: Promise<T>) => Promise<T> } {
  const sim = new Simulation(1);
  const orderers = spawnClusterActors(sim, { servers });
  const router = new Router(simRouterHost(sim), { servers, readTimeoutMs: 2000, writeTimeoutMs: 2000, orderers });
  /** Runs the simulation until `work` settles (at most 10 s of its time). */
  const run = async <T>(work: Promise<T>): Promise<T> => {
    let settled = false;
    const watched = work.finally(() => (settled = true));
    await sim.runUntil(sim.scheduler.nowMs + 10_000, () => settled);
    if (!settled) throw new Error('the simulation ran 10 s without the work settling');
    return watched;
  };
  return { sim, router, run };
}

// A server's disk restarted with its unflushed writes lost, and the view still shows the server's
// old incarnation (the control actor has not heard of the restart yet). The router reads the
// primary first; pinned to the old incarnation, the restarted server refuses, and the other copy,
// which kept the write, serves it. Unpinned, the read returned the older data (client-sync seed 626
// of the simulator found this).
test('a read is refused by a server restarted since the view, and served by the copy that kept the write', async (t) => {
  const { sim, router, run } = cluster();
  await sim.runUntil(500, () => false);
  t.true(
    (await run(router.control({ op: 'create', name: 'd', sizeBytes: 2 ** 20, replicas: 2, stripeBytes: 65536 }))).ok,
  );
  await sim.runUntil(sim.scheduler.nowMs + 500, () => false);
  t.true(router.view!.servers.every((server) => server.state === 'up' && server.incarnation === 0));
  const target = router.target('d')!;
  const written = sim.pool.tryLease(4096)!;
  written.bytes.fill(7);
  const write = { op: 'write', gmap: target.gmap, epoch: target.epoch, replicas: 2, block: 0, count: 1 } as const;
  await run(router.write(target, { ...write, handle: written.handle, fua: false }, 0));

  sim.kill(address('sim', 'server-0'));
  sim.kill(address('sim', 'disk-0'));
  sim.revive(address('sim', 'disk-0'));
  sim.revive(address('sim', 'server-0'));
  t.is(router.view!.servers[0]!.incarnation, 0, 'the view has not heard of the restart');
  const into = sim.pool.tryLease(4096)!;
  const holes = await run(router.read(target, { unit: 0, block: 0, count: 1, atBytes: 0 }, into.handle));
  t.deepEqual(holes, [], 'the block reads as written, not as the hole the restarted disk holds');
  t.is(sim.pool.view(into.handle)[0], 7);
});

// A write answered before its second copy had it (async duplication) keeps readers off that copy
// until the group's caught-up tell says it has the write. Across hosts that tell can be lost with
// a connection; the router then asks the group about writes whose tell is overdue (at a FLUSH, or
// while a read waits for a readable copy), instead of keeping off the copy for good.
test('a lagging copy whose caught-up tell was lost is cleared once the router asks its group', async (t) => {
  const { sim, router, run } = cluster();
  await sim.runUntil(500, () => false);
  const create = { op: 'create', name: 'm', sizeBytes: 2 ** 20, replicas: 2, stripeBytes: 65536 } as const;
  t.true((await run(router.control({ ...create, mirror: 2, protocol: 'client-async' }))).ok);
  await sim.runUntil(sim.scheduler.nowMs + 500, () => false);
  const target = router.target('m')!;
  sim.lose = (envelope) => envelope.kind === 'tell' && (envelope.body as { type?: string }).type === 'caught-up';
  const data = sim.pool.tryLease(4096)!;
  const write = { op: 'write', gmap: target.gmap, epoch: target.epoch, replicas: 2, count: 1, fua: false } as const;
  for (let block = 0; block < 16 && router.lagBytes(target.disk) === 0; block++)
    await run(router.write(target, { ...write, block, handle: data.handle }, 0));
  t.is(router.lagBytes(target.disk), 4096, 'one write was answered with its second copy still being written');
  await sim.runUntil(sim.scheduler.nowMs + 3000, () => false);
  t.is(router.lagBytes(target.disk), 4096, 'its caught-up tell was lost');
  t.true(await run(router.flush()));
  await sim.runUntil(sim.scheduler.nowMs + 100, () => false);
  t.is(router.lagBytes(target.disk), 0, 'the group said the write had ended');
});
