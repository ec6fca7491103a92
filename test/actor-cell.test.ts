import test from 'ava';
import type { Actor, Behavior, Incoming } from '../src/actors/actor.js';
import { address, type Address } from '../src/actors/address.js';
import { ActorCell, mailboxMax, type CellHost } from '../src/actors/cell.js';
import type { Envelope } from '../src/actors/envelope.js';
import { SimStorage } from '../src/sim/sim-storage.js';
import { calmStorage, Simulation } from '../src/sim/simulation.js';
import { Prng } from '../src/prng.js';
import { Scheduler } from '../src/sim/scheduler.js';

type Probe = { op: 'count' } | { op: 'boom' } | { op: 'sleep' } | { op: 'call'; body: Probe; timeoutMs: number };

const server = address('n', 'server');
const driver = address('n', 'driver');
const outside = address('n', 'test');

/**
 * 'count' increments a durable counter; 'boom' throws; 'sleep' is never answered.
 * A 'call' tell makes the actor request `body` from the server and record how that ended.
 */
const probe =
  (outcomes: string[]): Behavior<Probe> =>
  (context): Actor<Probe> => {
    let count = Number(new TextDecoder().decode(context.storage.get('count') ?? Uint8Array.of(48)));
    return {
      receive(incoming: Incoming<Probe>): void {
        if (incoming.kind === 'failure') outcomes.push(incoming.code);
        if (incoming.kind === 'reply') outcomes.push(JSON.stringify(incoming.body));
        if (incoming.kind === 'tell' && incoming.body.op === 'call')
          context.request(server, incoming.body.body, incoming.body.timeoutMs);
        if (incoming.kind !== 'request') return;
        if (incoming.body.op === 'boom') throw new Error('boom');
        if (incoming.body.op !== 'count') return;
        count += 1;
        context.storage.put('count', new TextEncoder().encode(String(count)));
        context.storage.flush();
        context.reply(incoming, { count, incarnation: context.incarnation });
      },
    };
  };

function setup() {
  const sim = new Simulation(1);
  const outcomes: string[] = [];
  const serverCell = sim.spawn(server, probe([]), calmStorage);
  sim.spawn(driver, probe(outcomes), calmStorage);
  const call = (body: Probe, timeoutMs = 1000) =>
    sim.route({ kind: 'tell', from: outside, to: driver, body: { op: 'call', body, timeoutMs } });
  return { sim, serverCell, outcomes, call };
}

test('an actor that throws restarts with a new incarnation, rebuilds from storage, and fails what it held', (t) => {
  const { sim, serverCell, outcomes, call } = setup();
  call({ op: 'count' });
  sim.scheduler.runUntil(50);
  call({ op: 'count' });
  sim.scheduler.runUntil(100);
  call({ op: 'boom' });
  sim.scheduler.runUntil(200);
  t.is(serverCell.incarnation, 1);
  t.is(serverCell.crashes, 1);
  call({ op: 'count' });
  sim.scheduler.runUntil(300);
  t.deepEqual(outcomes, [
    '{"count":1,"incarnation":0}',
    '{"count":2,"incarnation":0}',
    'WHORL_STALE_INCARNATION',
    '{"count":3,"incarnation":1}',
  ]);
});

test('a request without an answer times out with WHORL_TIMEOUT; a stopped actor answers WHORL_ACTOR_STOPPED', (t) => {
  const { sim, serverCell, outcomes, call } = setup();
  call({ op: 'sleep' }, 50);
  sim.scheduler.runUntil(100);
  t.deepEqual(outcomes, ['WHORL_TIMEOUT']);
  serverCell.stop();
  call({ op: 'count' });
  sim.scheduler.runUntil(200);
  t.deepEqual(outcomes, ['WHORL_TIMEOUT', 'WHORL_ACTOR_STOPPED']);
});

test('a killed actor loses unflushed writes and keeps flushed ones', (t) => {
  const sim = new Simulation(5);
  const cell = sim.spawn(address('n', 'disk'), () => ({ receive: () => undefined }), calmStorage);
  cell.storage.put('a', Uint8Array.of(1));
  cell.storage.flush();
  sim.scheduler.runUntil(10);
  cell.storage.put('b', Uint8Array.of(2));
  sim.kill(cell.self);
  t.deepEqual(
    cell.storage.range('', '\uffff').map(([key]) => key),
    ['a'],
  );
  t.is(cell.incarnation, 1);
});

/** A host that runs nothing on its own: the test decides when messages are processed. */
class ManualHost implements CellHost {
  readonly routed: Envelope[] = [];
  releaseHandle = () => undefined;
  viewHandle = (): Buffer => {
    throw new Error('no buffers in this test');
  };
  now = () => 0;
  wallClockMs = () => 0;
  random = () => 0.5;
  route = (envelope: Envelope) => void this.routed.push(envelope);
  schedule = () => undefined;
  startTimer = () => undefined;
  cancelTimer = () => undefined;
  log = () => undefined;
}

test('a full mailbox refuses requests with WHORL_MAILBOX_FULL; requests to a stale incarnation fail', (t) => {
  const host = new ManualHost();
  const storage = new SimStorage(new Scheduler(), new Prng(1), calmStorage);
  const cell = new ActorCell(server, probe([]), storage, host);
  const request = (requestId: number, toIncarnation?: number): Envelope => ({
    kind: 'request',
    from: driver,
    to: server,
    requestId,
    body: { op: 'count' },
    ...(toIncarnation === undefined ? {} : { toIncarnation }),
  });
  for (let i = 0; i < mailboxMax + 3; i++) cell.deliver(request(i));
  const codes = (from: Address) =>
    host.routed.filter((e) => e.kind === 'failure' && e.from === from).map((e) => (e.kind === 'failure' ? e.code : ''));
  t.deepEqual(codes(server), ['WHORL_MAILBOX_FULL', 'WHORL_MAILBOX_FULL', 'WHORL_MAILBOX_FULL']);
  t.is(cell.queued, mailboxMax);
  while (cell.runOne()) continue;
  t.is(host.routed.filter((e) => e.kind === 'reply').length, mailboxMax, 'everything queued was answered');
  host.routed.length = 0;
  cell.deliver(request(9999, 7));
  t.deepEqual(codes(server), ['WHORL_STALE_INCARNATION']);
});
