import type { Actor, ActorContext, Behavior, Incoming, RequestIncoming } from '../actors/actor.js';
import { address, addressKey, type Address } from '../actors/address.js';
import { FlushWaiters } from '../actors/flush-waiters.js';
import { assertNever } from '../assert.js';
import { WhorlError, isWhorlError } from '../errors.js';
import { checkLayout, orderersHolding } from '../model/layout.js';
import {
  diskNamePattern,
  duplicationProtocols,
  type ClusterView,
  type DuplicationProtocol,
  type ServerState,
  type ServerStatus,
  type Snapshot,
  type VirtualDisk,
} from '../model/catalog.js';
import type { ControlPush, ControlReply, ControlRequest } from './control-protocol.js';
import { ControlStore } from './control-store.js';
import { nextEpochReserved, released, reserveNext, resumed } from './epoch-reservations.js';
import {
  checkDeletable,
  cloneSource,
  dropSnapshot,
  existingDisk,
  makeClone,
  rollBack,
  takeSnapshot,
} from './snapshots.js';

export interface ControlOptions {
  readonly servers: number;
  /** Actors told of every change of the view (the router, the replica groups). */
  readonly subscribers: readonly string[];
  readonly heartbeatTimeoutMs: number;
  /** The view epoch (ClusterView.epoch) when control actors may move between nodes. */
  readonly epoch?: number;
  /**
   * Keep servers' states in storage and resume from them (a control actor moving to another node
   * when its node goes): live servers stay up rather than all resync. A server leaving `up` is
   * on stable storage before the view says so, so a successor never calls up a copy that missed
   * writes; other changes are recorded with the next flush.
   */
  readonly rememberServers?: boolean;
}

/** The largest virtual disk: 2^52 bytes (block numbers stay below the disk's 2^48 limit). */
export const diskSizeBytesMax = 2 ** 52;
const tickMs = 250;
/** A round's request or its answer may be lost: groups that have not answered are asked again. */
const recoverRepeatMs = 1000;

interface Server {
  state: ServerState;
  /** Stopped: the groups whose other copy lacks none of its writes (`setStopped` with `cleanFor`). */
  cleanFor: readonly string[];
  incarnation: number;
  lastSeenMs: number;
  /** The recovery round in progress and the groups that have not finished it. */
  round: number;
  groupsLeft: Set<string>;
  roundAskedMs: number;
  progress: Map<string, { bytesLeft: number; bytesPerSecond: number }>;
  /** Per group this round: the bytes it first reported left to copy (what the resync copies). */
  planned: Map<string, number>;
}

type Request = RequestIncoming<ControlRequest>;

/**
 * The control actor: owns the VDir (virtual disks and their GMaps) in its LMDB storage, and the
 * membership of server actors (liveness from heartbeats, operator stops, recovery rounds). Every
 * change is pushed to the subscribers as a new ClusterView.
 */
export function controlActor(options: ControlOptions): Behavior<ControlRequest> {
  return (context: ActorContext): Actor<ControlRequest> => {
    const store = new ControlStore(context.storage);
    const stored = store.disks();
    const disks = new Map(stored.map((disk) => [disk.name, disk]));
    /** The disks as on stable storage (as of the last flush done): what a restart would find. */
    let durable = new Map(disks);
    const stopped = store.stoppedServers();
    const remembered = options.rememberServers ? store.liveness() : new Map<number, undefined>();
    const servers: Server[] = Array.from({ length: options.servers }, (_, id) => ({
      state: stopped.has(id) ? 'stopped' : (remembered.get(id)?.state ?? 'down'),
      cleanFor: stopped.get(id) ?? [],
      incarnation: remembered.get(id)?.incarnation ?? -1,
      // A remembered server gets a heartbeat timeout's grace from the moment this actor starts.
      lastSeenMs: remembered.has(id) ? context.now() : 0,
      round: 0,
      groupsLeft: new Set(),
      roundAskedMs: 0,
      progress: new Map(),
      planned: new Map(),
    }));
    // Views of a restarted control actor must supersede its earlier ones: subscribers keep the newest.
    let version = context.incarnation * 2 ** 32 + 1;
    const flushes = new FlushWaiters(context.storage);
    const durably = (then: () => void): void => {
      const flushed = new Map(disks);
      flushes.after((ok) => {
        if (!ok) throw new Error('control database flush failed');
        durable = flushed;
        then();
      });
    };
    const keep = (disk: VirtualDisk): void => {
      store.putDisk(disk);
      disks.set(disk.name, disk);
    };
    // Every disk starts with its next epoch reserved; one whose reservation was ahead of its
    // epoch (a stop without `release`) moves to it (epoch-reservations.ts).
    const moved: string[] = [];
    for (const disk of stored) {
      const next = reserveNext(resumed(disk));
      if (next.epoch !== disk.epoch) {
        context.log('disk moved to its reserved epoch', { disk: disk.name, from: disk.epoch, to: next.epoch });
        moved.push(disk.name);
      }
      if (next !== disk) keep(next);
    }
    if (stored.length > 0) durably(() => undefined);

    const view = (): ClusterView => ({
      version,
      ...(options.epoch !== undefined ? { epoch: options.epoch } : {}),
      ...(moved.length > 0 ? { resumed: moved } : {}),
      disks: [...disks.values()].sort((a, b) => a.name.localeCompare(b.name)),
      servers: servers.map((server, id): ServerStatus => {
        let bytesLeft = 0;
        let bytesPerSecond = 0;
        for (const progress of server.progress.values()) {
          bytesLeft += progress.bytesLeft;
          bytesPerSecond += progress.bytesPerSecond;
        }
        return {
          id,
          state: server.state,
          incarnation: server.incarnation,
          resyncBytesLeft: bytesLeft,
          resyncBytesPerSecond: bytesPerSecond,
          ...(server.state === 'stopped' && server.cleanFor.length > 0 ? { cleanFor: server.cleanFor } : {}),
        };
      }),
    });
    /** Subscribers that asked (the routers of other nodes); kept in memory only. */
    const subscribed = new Map<string, Address>();
    const publish = (): void => {
      version += 1;
      const push: ControlPush = { type: 'view', view: view() };
      for (const subscriber of options.subscribers) context.send(address(context.self.node, subscriber), push);
      for (const subscriber of subscribed.values()) context.send(subscriber, push);
    };
    const setState = (id: number, state: ServerState, why: string): void => {
      const server = servers[id]!;
      if (server.state === state) return;
      const resynced = state === 'up' ? { resyncedBytes: [...server.planned.values()].reduce((a, b) => a + b, 0) } : {};
      context.log('server state', { server: id, from: server.state, to: state, why, ...resynced });
      server.planned.clear();
      const from = server.state;
      server.state = state;
      server.groupsLeft.clear();
      server.progress.clear();
      // The view goes out first: a group must see the server as writable before it recovers.
      const announce = (): void => {
        publish();
        if (state === 'resyncing' && server.state === 'resyncing') startRecovery(id);
      };
      if (!options.rememberServers) return announce();
      store.setLiveness(id, state, server.incarnation);
      if (from === 'up') return durably(announce);
      announce();
      durably(() => undefined);
    };
    /** The groups holding copies with server `id`: its own (as primary), its left neighbour's, its mirror pairs. */
    const startRecovery = (id: number): void => {
      const server = servers[id]!;
      server.round += 1;
      server.groupsLeft = new Set(orderersHolding(id, options.servers));
      askRecovery(id);
    };
    const askRecovery = (id: number): void => {
      const server = servers[id]!;
      server.roundAskedMs = context.now();
      for (const group of server.groupsLeft) {
        const push: ControlPush = { type: 'recover', server: id, round: server.round };
        context.send(address(context.self.node, group), push);
      }
    };

    const answer = (request: Request, disk?: VirtualDisk): void =>
      context.reply(request, { ok: true, view: view(), disk } satisfies ControlReply);
    const refuse = (request: Request, error: WhorlError): void =>
      context.reply(request, { ok: false, code: error.code, message: error.message } satisfies ControlReply);

    /**
     * Stores a changed disk record (its next epoch reserved) and pushes it to every subscriber,
     * answering once it is durable — or at once, when writes may use it before it is (`atOnce`:
     * a snapshot onto an epoch reserved on stable storage; `sync` tells when it is durable).
     */
    const change = (request: Request, changed: VirtualDisk, snapshot?: Snapshot, atOnce = false): void => {
      const disk = reserveNext(changed);
      keep(disk);
      const tell = (): void => {
        publish();
        context.reply(request, { ok: true, view: view(), disk, snapshot } satisfies ControlReply);
      };
      if (!atOnce) return durably(tell);
      tell();
      durably(() => undefined);
    };

    const handle = (request: Request): void => {
      const body = request.body;
      switch (body.op) {
        case 'subscribe':
          subscribed.set(addressKey(request.from), request.from);
          return answer(request);
        case 'view': {
          // A restarted group lost the recovery rounds it owed: ask it again.
          servers.forEach((server, id) => {
            if (server.state === 'resyncing' && server.groupsLeft.has(request.from.actor)) {
              context.send(request.from, { type: 'recover', server: id, round: server.round } satisfies ControlPush);
            }
          });
          return answer(request);
        }
        case 'create': {
          checkNewDisk(body, disks, options.servers);
          const disk: VirtualDisk = {
            name: body.name,
            gmap: store.nextGmap(),
            servers: options.servers,
            replicas: body.replicas,
            stripeBytes: body.stripeBytes,
            ...(body.mirror !== undefined ? { mirror: body.mirror, protocol: body.protocol } : {}),
            epoch: 0,
            sizeBytes: body.sizeBytes,
            createdAtMs: context.wallClockMs(),
            base: [],
            snapshots: [],
          };
          return change(request, disk);
        }
        case 'resize': {
          const disk = existingDisk(disks, body.name);
          checkSize(body.sizeBytes);
          if (body.sizeBytes < disk.sizeBytes) {
            throw new WhorlError(
              'WHORL_BAD_ARGUMENT',
              `disk '${disk.name}' is ${disk.sizeBytes} bytes; shrinking to ${body.sizeBytes} is not supported (grow only)`,
            );
          }
          return change(request, { ...disk, sizeBytes: body.sizeBytes });
        }
        case 'set': {
          const disk = existingDisk(disks, body.name);
          if (!disk.mirror)
            throw new WhorlError(
              'WHORL_BAD_ARGUMENT',
              `disk '${disk.name}' uses chained declustering; --protocol applies to --layout mirror disks only`,
            );
          checkProtocol(body.protocol);
          return change(request, { ...disk, protocol: body.protocol });
        }
        case 'delete': {
          const disk = checkDeletable(disks, body.name);
          store.deleteDisk(disk.name);
          disks.delete(disk.name);
          return durably(() => {
            publish();
            answer(request, disk);
          });
        }
        case 'snapshot': {
          const before = existingDisk(disks, body.disk);
          const { disk, snapshot } = takeSnapshot(disks, body.disk, body.name, context.wallClockMs());
          // With the new epoch reserved on stable storage, new writes are held only for this turn.
          return change(request, disk, snapshot, nextEpochReserved(before, durable.get(before.name)));
        }
        case 'sync':
          return durably(() => answer(request));
        case 'release': {
          for (const disk of disks.values()) keep(released(disk));
          return durably(() => answer(request));
        }
        case 'unsnapshot': {
          const { disk, snapshot } = dropSnapshot(disks, body.disk, body.name);
          return change(request, disk, snapshot);
        }
        case 'clone': {
          const source = cloneSource(disks, body.source, body.name);
          return change(request, makeClone(source, body.name, store.nextGmap(), context.wallClockMs()));
        }
        case 'rollback':
          return change(
            request,
            rollBack(disks, body.disk, body.snapshot, () => store.nextGmap()),
          );
        case 'setStopped': {
          if (!Number.isInteger(body.server) || body.server < 0 || body.server >= options.servers) {
            throw new WhorlError(
              'WHORL_BAD_ARGUMENT',
              `no server ${body.server} (servers are 0 to ${options.servers - 1})`,
            );
          }
          const cleanFor = body.stopped ? [...(body.cleanFor ?? [])] : [];
          store.setStopped(body.server, body.stopped, cleanFor);
          return durably(() => {
            const server = servers[body.server]!;
            const wasStopped = server.state === 'stopped';
            server.cleanFor = cleanFor;
            setState(body.server, body.stopped ? 'stopped' : 'down', body.stopped ? 'operator stop' : 'operator start');
            // Stopped already, now with what its disk held: groups waiting on its marks may finish.
            if (wasStopped && body.stopped) publish();
            answer(request);
          });
        }
        case 'term': {
          // Durable before the answer: a restarted control actor must never hand the same term
          // to a second coordinator of the group.
          const term = store.term(body.group) + 1;
          store.putTerm(body.group, term);
          return durably(() => context.reply(request, { ok: true, view: view(), term } satisfies ControlReply));
        }
        case 'heartbeat':
        case 'suspect':
        case 'recovered':
        case 'progress':
          return answer(request);
        default:
          return assertNever(body, 'control request');
      }
    };

    const onTell = (body: ControlRequest): void => {
      switch (body.op) {
        case 'heartbeat': {
          const server = servers[body.server];
          if (!server || server.state === 'stopped') return;
          const restarted = server.incarnation !== body.incarnation;
          server.incarnation = body.incarnation;
          server.lastSeenMs = context.now();
          if (server.state === 'down' || restarted) {
            server.state = 'down';
            setState(body.server, 'resyncing', restarted ? 'new incarnation' : 'heartbeat');
          }
          return;
        }
        case 'suspect': {
          // A node that cannot be reached may be the one cut off, or this one may be: heartbeats
          // judge it, and they wait longer than a cut-off node takes to stand down (cluster/reach.ts).
          if (body.code === 'WHORL_UNREACHABLE') return;
          const server = servers[body.server];
          if (server && (server.state === 'up' || server.state === 'resyncing'))
            setState(body.server, 'down', body.why);
          return;
        }
        case 'recovered': {
          const server = servers[body.server];
          if (!server || server.state !== 'resyncing' || server.round !== body.round) return;
          server.groupsLeft.delete(body.group);
          server.progress.delete(body.group);
          if (server.groupsLeft.size === 0) setState(body.server, 'up', 'recovered');
          return;
        }
        case 'progress': {
          const server = servers[body.server];
          if (!server || server.state !== 'resyncing') return;
          server.progress.set(body.group, { bytesLeft: body.bytesLeft, bytesPerSecond: body.bytesPerSecond });
          if (!server.planned.has(body.group)) server.planned.set(body.group, body.bytesLeft);
          publish();
          return;
        }
        default:
          return;
      }
    };

    let lastTickMs = context.now();
    const tick = (): void => {
      const now = context.now();
      // A tick that comes late means this thread itself was held up (a loaded machine): the
      // heartbeats queued meanwhile are read next, so nobody is judged on this tick.
      const late = now - lastTickMs > tickMs + options.heartbeatTimeoutMs / 2;
      lastTickMs = now;
      if (!late)
        servers.forEach((server, id) => {
          if (
            (server.state === 'up' || server.state === 'resyncing') &&
            now - server.lastSeenMs > options.heartbeatTimeoutMs
          ) {
            setState(id, 'down', `no heartbeat for ${Math.round(now - server.lastSeenMs)} ms`);
          } else if (server.state === 'resyncing' && now - server.roundAskedMs > recoverRepeatMs) {
            askRecovery(id);
          }
        });
      context.setTimer(tickMs, { op: 'tick' });
    };
    context.setTimer(tickMs, { op: 'tick' });
    // Resyncing when the previous control actor stopped: its rounds went with it.
    servers.forEach((server, id) => {
      if (server.state === 'resyncing') startRecovery(id);
    });

    return {
      receive(incoming: Incoming<ControlRequest>): void {
        switch (incoming.kind) {
          case 'request':
            try {
              return handle(incoming);
            } catch (error) {
              if (!isWhorlError(error)) throw error;
              return refuse(incoming, error);
            }
          case 'tell':
            return onTell(incoming.body);
          case 'timer':
            return tick();
          case 'flushed':
            return flushes.settle(incoming.token, incoming.ok);
          case 'reply':
          case 'failure':
            return;
          default:
            return assertNever(incoming, 'incoming');
        }
      },
    };
  };
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 4096 || sizeBytes > diskSizeBytesMax || sizeBytes % 4096 !== 0) {
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `size ${sizeBytes} bytes: must be a multiple of 4096 between 4096 and ${diskSizeBytesMax}`,
    );
  }
}

function checkNewDisk(
  body: Extract<ControlRequest, { op: 'create' }>,
  disks: Map<string, VirtualDisk>,
  servers: number,
): void {
  if (!diskNamePattern.test(body.name)) {
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `disk name '${body.name}': use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  if (disks.has(body.name))
    throw new WhorlError('WHORL_BAD_ARGUMENT', `a virtual disk named '${body.name}' already exists`);
  checkSize(body.sizeBytes);
  if (body.replicas !== 1 && body.replicas !== 2)
    throw new WhorlError('WHORL_BAD_ARGUMENT', `replicas ${String(body.replicas)}: must be 1 or 2`);
  if (body.replicas > servers)
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `replicas ${body.replicas} needs at least ${body.replicas} servers; this cluster has ${servers}`,
    );
  if (
    !Number.isSafeInteger(body.stripeBytes) ||
    body.stripeBytes < 65536 ||
    body.stripeBytes % 65536 !== 0 ||
    body.stripeBytes > 32 * 1024 * 1024
  ) {
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `stripe ${body.stripeBytes} bytes: must be a multiple of 64 KiB up to 32 MiB`,
    );
  }
  if (body.mirror !== undefined) {
    if (body.replicas !== 2)
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `--layout mirror keeps two copies; replicas ${body.replicas} does not apply`,
      );
    if (!Number.isInteger(body.mirror) || body.mirror < 1 || body.mirror * 2 > servers) {
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `mirror groups of ${String(body.mirror)} servers: must be 1 to ${Math.floor(servers / 2)} on this cluster of ${servers} (a primary and a backup group)`,
      );
    }
    checkProtocol(body.protocol);
  } else if (body.protocol !== undefined) {
    throw new WhorlError('WHORL_BAD_ARGUMENT', `--protocol applies to --layout mirror disks only`);
  }
  checkLayout({
    gmap: 0,
    servers,
    replicas: body.replicas,
    stripeBytes: body.stripeBytes,
    ...(body.mirror !== undefined ? { mirror: body.mirror } : {}),
  });
}

function checkProtocol(protocol: unknown): void {
  if (!duplicationProtocols.includes(protocol as DuplicationProtocol)) {
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `protocol '${String(protocol)}': must be one of ${duplicationProtocols.join(', ')}`,
    );
  }
}
