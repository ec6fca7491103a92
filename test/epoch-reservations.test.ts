import test from 'ava';
import type { ActorContext } from '../src/actors/actor.js';
import { address } from '../src/actors/address.js';
import type { VirtualDisk } from '../src/model/catalog.js';
import { controlActor } from '../src/control/control-actor.js';
import type { ControlReply, ControlRequest } from '../src/control/control-protocol.js';
import { Simulation } from '../src/sim/simulation.js';

/**
 * The control actor on the simulator, its storage losing every unflushed write when killed, and
 * its flushes taking up to 20 ms: a snapshot may be answered before its record is durable, and a
 * restart must then serve the disk at the epoch writes were told to use.
 */
const control = address('sim', 'control');
const slowFlushes = { latencyMsMax: 20, flushErrorRate: 0, keepUnflushedRate: 0, tearRate: 0 };

class ControlUnderTest {
  private readonly sim: Simulation;
  private context!: ActorContext;
  private readonly replies = new Map<number, ControlReply>();

  constructor(seed: number) {
    this.sim = new Simulation(seed);
    this.sim.spawn(
      control,
      controlActor({ servers: 4, subscribers: [], heartbeatTimeoutMs: 60_000 }) as never,
      slowFlushes,
    );
    this.sim.spawn(address('sim', 'admin'), ((context: ActorContext) => {
      this.context = context;
      return {
        receive: (incoming: { kind: string; requestId?: number; body?: unknown }) => {
          if (incoming.kind === 'reply') this.replies.set(incoming.requestId!, incoming.body as ControlReply);
        },
      };
    }) as never);
  }

  /** Runs the simulation just until the answer arrives (nothing after it, not even a flush). */
  ask(body: ControlRequest): Extract<ControlReply, { ok: true }> {
    const id = this.context.request(control, body, 60_000);
    this.sim.scheduler.runUntil(this.sim.scheduler.nowMs + 60_000, () => this.replies.has(id));
    const reply = this.replies.get(id);
    if (!reply?.ok) throw new Error(`control ${body.op}: ${JSON.stringify(reply)}`);
    return reply;
  }

  disk(name: string): VirtualDisk {
    return this.ask({ op: 'view' }).view.disks.find((disk) => disk.name === name)!;
  }

  /** Kills the control actor (unflushed writes lost) and lets it start again from its storage. */
  crash(): void {
    this.sim.kill(control);
    this.sim.revive(control);
  }

  createDisk(name: string): void {
    this.ask({ op: 'create', name, sizeBytes: 1024 * 1024, replicas: 2, stripeBytes: 65536 });
  }
}

const seeds = Array.from({ length: 20 }, (_, i) => i + 1);

test('a snapshot answered before its record is durable: after a crash the disk is at the epoch new writes were given', (t) => {
  let lost = 0;
  for (const seed of seeds) {
    const cluster = new ControlUnderTest(seed);
    cluster.createDisk('d');
    const answered = cluster.ask({ op: 'snapshot', disk: 'd', name: 's1' });
    t.is(answered.disk!.epoch, 1, `seed ${seed}: writes go to epoch 1`);
    cluster.crash();
    const after = cluster.disk('d');
    // At or past epoch 1 (a durable record reserved epoch 2 too): the writes of epoch 1 show.
    t.true(after.epoch >= 1, `seed ${seed}: epoch ${after.epoch} after the crash`);
    if (after.snapshots.length === 0) lost += 1;
  }
  // The snapshot's record was lost in some runs: it was answered before its flush, not after.
  t.true(lost > 0, `${lost} of ${seeds.length} runs answered before the record was durable`);
});

test('a second snapshot right after the first waits for its epoch to be reserved durably', (t) => {
  for (const seed of seeds) {
    const cluster = new ControlUnderTest(seed);
    cluster.createDisk('d');
    cluster.ask({ op: 'snapshot', disk: 'd', name: 's1' });
    const second = cluster.ask({ op: 'snapshot', disk: 'd', name: 's2' });
    t.is(second.disk!.epoch, 2);
    cluster.crash();
    const after = cluster.disk('d');
    t.true(after.epoch >= 2, `seed ${seed}: epoch ${after.epoch} after the crash`);
  }
});

test('sync answers once the snapshot is durable; an orderly release leaves no epoch to move past', (t) => {
  for (const seed of seeds) {
    const cluster = new ControlUnderTest(seed);
    cluster.createDisk('d');
    cluster.ask({ op: 'snapshot', disk: 'd', name: 's1' });
    cluster.ask({ op: 'sync' });
    cluster.crash();
    const synced = cluster.disk('d');
    t.deepEqual(
      synced.snapshots.map((snapshot) => [snapshot.name, snapshot.epoch]),
      [['s1', 0]],
      `seed ${seed}`,
    );
    t.is(synced.epoch, 2, `seed ${seed}: a crash moves the disk past its reservation`);

    cluster.ask({ op: 'release' });
    cluster.crash();
    t.is(cluster.disk('d').epoch, 2, `seed ${seed}: after a release the epoch stays`);
    t.is(cluster.disk('d').reservedEpoch, 3, `seed ${seed}: and the next one is reserved again`);
  }
});
