import type { SecureContextOptions } from 'node:tls';
import path from 'node:path';
import type { Watcher } from 'etcd3';
import { ActorRuntime } from '../actors/runtime.js';
import type { BufferHandle, Lease } from '../actors/buffer-pool.js';
import type { ClusterView } from '../model/catalog.js';
import { stripeBytesDefault } from '../model/layout.js';
import { WhorlError } from '../errors.js';
import type { LogFormat, Logger } from '../log.js';
import { regionBytes } from '../storage/block-keys.js';
import { directBlocksMax, Router } from '../volumes/router.js';
import type { ServerRequest } from '../servers/server-protocol.js';
import { DirectReads } from '../storage/direct-reads.js';
import { CommitTable } from '../storage/commit-table.js';
import type { GroupOptions } from '../groups/replica-group.js';
import { Membership } from '../etcd/membership.js';
import { claimSlots, ensureConfig, loadSlots, type SharedConfig, type SlotRecord } from '../etcd/cluster-keys.js';
import { linkNodes, type NodeLinks } from '../transport/node-links.js';
import { followPeers } from './peers.js';
import { placedGroups, groupNodes } from './placement.js';
import { isIsolated, nodeHeartbeatTimeoutMs, PeerReach, reachCheckMs } from './reach.js';
import { actorModule, copyHandlesPerGroup, requestTimeoutMs, spawnServer } from './server-spawn.js';

export interface NodeOptions {
  readonly urls: readonly string[];
  readonly prefix: string;
  readonly node: string;
  /** Where this node accepts peer connections; its host is what peers dial (not 0.0.0.0). */
  readonly peerListen: { readonly host: string; readonly port: number };
  readonly dataDir: string;
  /** This node's disks, one server each; none for a gateway. */
  readonly diskPaths: readonly string[];
  /** The cluster's shape if this node creates it (the first node on an empty prefix). */
  readonly create: SharedConfig;
  readonly log: Logger;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  /** Worker threads for its actors; default 0: they share the main thread with the peer links (BENCHMARKS.md). */
  readonly threads?: number;
  readonly readyTimeoutMs?: number;
  /** Called when this node must stop acting for the cluster (it lost its lease): the process should exit. */
  readonly onFatal?: (reason: string) => void;
  /** X.509 credentials for node links (mutual TLS, transport/node-links.ts); plain TCP without. */
  readonly peerTls?: SecureContextOptions;
}

const subscribeEveryMs = 1_000;

/**
 * One node of a multi-host cluster (`whorl serve --etcd`): the servers of its own disks, the
 * replica groups placement gives it (placement.ts), the control actor while it holds the monitor
 * role, and a router serving every virtual disk over NBD. Actors name each other as on one host;
 * the runtime's directory sends what is addressed to another node's actors over the node links.
 */
export class ClusterNode {
  readonly mirrorLagBytes = 0;
  private readonly groupLeases = new Map<string, Lease[]>();
  private slots = new Map<number, SlotRecord>();
  private monitor: string | undefined;
  /** Whether this node may act as a primary: it holds its etcd lease (membership.ts). */
  private acting = true;
  /** Whether this node reaches too few peers to coordinate (reach.ts). */
  private isolated = false;
  private reachTimer: NodeJS.Timeout | undefined;
  private placing: Promise<void> = Promise.resolve();
  private readonly watchers: Watcher[] = [];
  private stopped = false;

  private constructor(
    readonly runtime: ActorRuntime,
    readonly router: Router,
    readonly config: SharedConfig,
    private readonly options: NodeOptions,
    private readonly membership: Membership,
    private readonly links: NodeLinks,
    private readonly local: readonly SlotRecord[],
    /** Per local server: its disk's count of writes not yet committed, shared with `direct`. */
    private readonly commits: ReadonlyMap<number, CommitTable>,
    private readonly direct: DirectReads,
  ) {}

  static async start(options: NodeOptions): Promise<ClusterNode> {
    if (options.peerListen.host === '0.0.0.0' || options.peerListen.host === '::')
      throw new WhorlError('WHORL_BAD_ARGUMENT', '--peer-listen: give the address peers dial, not a wildcard');
    const runtime = await ActorRuntime.start({
      node: options.node,
      threads: options.threads ?? 0,
      log: options.log,
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
      ...(options.logFormat ? { logFormat: options.logFormat } : {}),
    });
    let links: NodeLinks | undefined;
    let membership: Membership | undefined;
    try {
      const linked = await linkNodes(runtime, {
        cluster: options.prefix,
        log: options.log,
        listen: options.peerListen,
        ...(options.peerTls ? { tls: options.peerTls } : {}),
      });
      links = linked.links;
      membership = await Membership.join({
        urls: options.urls,
        prefix: options.prefix,
        node: options.node,
        peer: `${options.peerListen.host}:${linked.port}`,
        log: options.log,
      });
      const { config, fresh } = await ensureConfig(membership.etcd, options.prefix, options.create);
      const local = await claimSlots(membership.etcd, options.prefix, options.node, options.diskPaths, config.servers);
      const commits = new Map(local.map((slot) => [slot.server, CommitTable.create()]));
      const direct = new DirectReads(
        (server) => local.find((slot) => slot.server === server)!.disk,
        (server) => commits.get(server)!,
        (server) => commits.has(server),
      );
      const router = new Router(runtime, {
        servers: config.servers,
        readTimeoutMs: requestTimeoutMs,
        writeTimeoutMs: requestTimeoutMs * 3,
        orderers: placedGroups(config.servers).map((group) => group.name),
        subscribeEveryMs,
        direct,
      });
      const node = new ClusterNode(runtime, router, config, options, membership, links, local, commits, direct);
      links.answerAtOnceWith((request) => node.readHere(request));
      await node.begin(fresh);
      return node;
    } catch (error) {
      await membership?.leave();
      await links?.close();
      await runtime.stop();
      throw error;
    }
  }

  get servers(): number {
    return this.config.servers;
  }

  get view(): ClusterView | undefined {
    return this.router.view;
  }

  nodeOf(id: number): string | undefined {
    return this.slots.get(id)?.node;
  }

  /** Servers are stopped and started on the node that has their disk. */
  async stopServer(id: number): Promise<void> {
    this.checkLocal(id);
    const reply = await this.router.control({ op: 'setStopped', server: id, stopped: true });
    if (!reply.ok) throw new WhorlError(reply.code, reply.message);
    await this.runtime.retire(`server-${id}`);
    await this.runtime.retire(`disk-${id}`);
    this.direct.close(id);
  }

  async startServer(id: number): Promise<void> {
    this.checkLocal(id);
    if (this.runtime.where(`server-${id}`))
      throw new WhorlError('WHORL_BAD_ARGUMENT', `server ${id} is already running`);
    await this.spawnServer(this.local.find((slot) => slot.server === id)!);
    const reply = await this.router.control({ op: 'setStopped', server: id, stopped: false });
    if (!reply.ok) throw new WhorlError(reply.code, reply.message);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.reachTimer);
    for (const watcher of this.watchers) await watcher.cancel().catch(() => undefined);
    await this.placing.catch(() => undefined);
    await this.membership.leave();
    await this.links.close();
    this.direct.closeAll();
    await this.runtime.stop();
    for (const leases of this.groupLeases.values()) for (const lease of leases) this.runtime.pool.release(lease.handle);
  }

  /**
   * A router's read of one of this node's servers, from another node: served from the disk's files
   * on this thread when direct reads can (direct-reads.ts), as the router on this node does, sparing
   * the hand-off to the server's worker and back. Undefined: the server actor answers it.
   */
  private readHere(request: { from: { actor: string }; to: { actor: string }; body: unknown }): unknown {
    const read = request.body as Extract<ServerRequest, { op: 'read' }>;
    if (request.from.actor !== 'router' || read?.op !== 'read' || !request.to.actor.startsWith('server-')) return;
    const server = Number(request.to.actor.slice('server-'.length));
    if (!this.runtime.where(request.to.actor) || read.count > directBlocksMax) return;
    const into = this.runtime.pool.view(read.handle);
    const based = (read.base?.length ?? 0) > 0;
    const holes = this.direct.read(server, { ...read, based }, into);
    return holes ? { ok: true, holes } : undefined;
  }

  private checkLocal(id: number): void {
    const slot = this.slots.get(id);
    if (!slot) throw new WhorlError('WHORL_BAD_ARGUMENT', `no server ${id} in this cluster`);
    if (slot.node !== this.options.node)
      throw new WhorlError('WHORL_BAD_ARGUMENT', `server ${id} is on node ${slot.node}: stop or start it there`);
  }

  private async begin(fresh: boolean): Promise<void> {
    const { etcd } = this.membership;
    const { prefix } = this.options;
    this.slots = await loadSlots(etcd, prefix);
    for (const slot of this.local) await this.spawnServer(slot);
    const follow = followPeers(this.options.node, this.links);
    follow(this.membership.nodes);
    this.membership.onChange((nodes) => {
      follow(nodes);
      this.place();
    });
    this.membership.onLost(() => {
      // Its peers may soon think it gone and take over its groups: it stops coordinating at once.
      this.acting = false;
      this.place();
    });
    this.membership.onRegained(() => {
      this.acting = true;
      this.place();
    });
    this.membership.onGone((reason) => this.options.onFatal?.(`this node's etcd lease is gone: ${reason}`));
    const slots = await etcd.watch().prefix(`${prefix}/servers/`).create();
    slots.on('put', () => this.place());
    const monitor = await etcd.watch().key(`${prefix}/monitor`).create();
    monitor.on('put', (kv) => {
      this.monitor = kv.value.toString();
      this.place();
    });
    monitor.on('delete', () => {
      this.monitor = undefined;
      this.place();
    });
    this.watchers.push(slots, monitor);
    // Who holds the role now (a gateway never claims it, so it would not learn it from a claim).
    this.monitor ??= (await etcd.get(`${prefix}/monitor`).string()) ?? undefined;
    const reach = new PeerReach((node) => this.links.isUp(node));
    this.reachTimer = setInterval(() => this.checkReach(reach), reachCheckMs);
    this.place();
    await this.placing;
    if (fresh) await this.createDefaultDisk();
    await this.waitUntilServing(this.options.readyTimeoutMs ?? 60_000);
  }

  /** Applies the reach rule (reach.ts): this node stands down, or back up, and says so in etcd. */
  private checkReach(reach: PeerReach): void {
    const live = new Set(this.membership.nodes.keys());
    const self = this.options.node;
    const reached = reach.reached(self, live, Date.now());
    const isolated = isIsolated({ self, live, reached, monitor: this.monitor });
    if (isolated === this.isolated) return;
    this.isolated = isolated;
    const peers = `${reached.size} of ${live.size - 1}`;
    if (isolated)
      this.options.log.error(
        { node: self, reached: [...reached] },
        `this node reaches ${peers} peers: it stops coordinating`,
      );
    else
      this.options.log.warn(
        { node: self, reached: [...reached] },
        `this node reaches ${peers} peers again: it coordinates`,
      );
    this.membership
      .setIsolated(isolated)
      .catch((error: unknown) => this.options.log.warn({ err: error }, 'could not record isolation in etcd'));
    this.place();
  }

  /** Brings the actors this node runs, and the directory of those it does not, in line with etcd. */
  private place(): void {
    this.placing = this.placing
      .then(() => this.placeNow())
      .catch((error: unknown) => this.options.log.error({ err: error }, 'placing actors failed'));
  }

  private async placeNow(): Promise<void> {
    if (this.stopped) return;
    const self = this.options.node;
    // Read afresh each time: a node that claimed servers between this node's first read and its
    // watch would otherwise stay unknown, and two nodes would run the same group.
    this.slots = await loadSlots(this.membership.etcd, this.options.prefix);
    const coordinating = this.acting && !this.isolated;
    if (
      // A gateway (no disks; often on a client host) never runs the control actor.
      this.local.length > 0 &&
      coordinating &&
      (this.monitor === undefined || (this.monitor === self && !this.runtime.where('control')))
    )
      await this.claimMonitor();
    if (this.isolated && this.runtime.where('control')) {
      await this.membership.releaseMonitor();
      await this.runtime.retire('control');
      this.options.log.warn({ node: self }, 'this node gave up the monitor role');
    }
    this.runtime.locate('control', this.monitor === self ? undefined : this.monitor);
    for (const [server, slot] of this.slots) {
      const elsewhere = slot.node === self ? undefined : slot.node;
      this.runtime.locate(`server-${server}`, elsewhere);
      this.runtime.locate(`disk-${server}`, elsewhere);
    }
    const live = new Set(
      [...this.membership.nodes.values()].filter((record) => !record.isolated).map((record) => record.node),
    );
    if (this.isolated) live.delete(self);
    for (const [group, node] of groupNodes(this.config.servers, this.slots, live)) {
      const here = this.runtime.where(group) !== undefined;
      const mine = node === self && coordinating;
      if (mine && !here) await this.spawnGroup(group);
      if (!mine && here) await this.retireGroup(group);
      this.runtime.locate(group, node === self ? undefined : node);
    }
  }

  /** Takes the monitor role if nobody holds it, and then runs the control actor on etcd storage. */
  private async claimMonitor(): Promise<void> {
    const fence = await this.membership.claimMonitor();
    if (!fence) {
      const holder = await this.membership.etcd.get(`${this.options.prefix}/monitor`).string();
      this.monitor = holder ?? undefined;
      return;
    }
    this.monitor = this.options.node;
    if (this.runtime.where('control')) return;
    const { urls, prefix } = this.options;
    await this.runtime.spawn(
      'control',
      {
        module: actorModule('../control/control-actor.js'),
        export: 'controlActor',
        args: [
          {
            servers: this.config.servers,
            subscribers: placedGroups(this.config.servers).map((group) => group.name),
            heartbeatTimeoutMs: nodeHeartbeatTimeoutMs,
            epoch: Number(fence.createRevision),
            rememberServers: true,
          },
        ],
      },
      undefined,
      {
        module: actorModule('../etcd/etcd-storage.js'),
        export: 'openEtcdStorage',
        args: [{ urls, prefix, actor: 'control', fence }],
      },
    );
    this.options.log.info({ node: this.options.node }, 'this node is the monitor: it runs the control actor');
  }

  private async spawnServer(slot: SlotRecord): Promise<void> {
    const disk = {
      path: slot.disk,
      capacityBytes: this.config.diskCapacityBytes,
      commits: this.commits.get(slot.server)!.buffer,
    };
    await spawnServer(this.runtime, slot.server, disk, this.threadFor(slot.server), this.membership.incarnation);
  }

  private async spawnGroup(name: string): Promise<void> {
    const group = placedGroups(this.config.servers).find((candidate) => candidate.name === name)!;
    const leases: Lease[] = [];
    for (let i = 0; i < copyHandlesPerGroup; i++) leases.push(await this.runtime.pool.lease(regionBytes));
    this.groupLeases.set(name, leases);
    const options: GroupOptions = {
      name,
      primary: group.primary,
      secondary: group.secondary,
      servers: this.config.servers,
      requestTimeoutMs,
      copyHandles: leases.map((lease): BufferHandle => lease.handle),
      lagHandles: [],
      successor: true,
    };
    const spec = { module: actorModule('../groups/replica-group.js'), export: 'replicaGroup', args: [options] };
    await this.runtime.spawn(name, spec, this.threadFor(group.primary));
    this.options.log.info({ group: name }, 'running replica group here');
  }

  private async retireGroup(name: string): Promise<void> {
    await this.runtime.retire(name);
    for (const lease of this.groupLeases.get(name) ?? []) this.runtime.pool.release(lease.handle);
    this.groupLeases.delete(name);
    this.options.log.info({ group: name }, 'replica group moved to another node');
  }

  private threadFor(index: number): number {
    const threads = this.runtime.threadIds.sort((a, b) => a - b);
    return threads.length === 0 ? 0 : threads[index % threads.length]!;
  }

  private async createDefaultDisk(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const created = await this.router
        .control({
          op: 'create',
          name: 'default',
          sizeBytes: this.config.defaultDiskSizeBytes,
          replicas: this.config.defaultReplicas,
          stripeBytes: stripeBytesDefault,
        })
        .catch((error: Error) => ({ ok: false as const, code: 'WHORL_IO' as const, message: error.message }));
      if (created.ok || created.message.includes('exists')) return;
      if (Date.now() > deadline) throw new WhorlError(created.code, `creating the default disk: ${created.message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * Serving starts once the control actor's view has come and has heard from this node's own
   * servers (up, or resyncing: a copy waits for its partners, which may be on nodes not started
   * yet; the router then waits for a readable copy, as on one host).
   */
  private async waitUntilServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = this.router.view?.servers ?? [];
      const heard = (state: string | undefined): boolean => state === 'up' || state === 'resyncing';
      if (states.length > 0 && this.local.every((slot) => heard(states[slot.server]?.state))) return;
      if (Date.now() > deadline)
        throw new WhorlError(
          'WHORL_TIMEOUT',
          `node ${this.options.node} not serving after ${timeoutMs} ms (control actor on ${this.monitor ?? 'no node'}; servers ${states.map((server) => server.state).join(', ') || 'unknown'})`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A node's data directory holds nothing of the cluster's state; its disks default to DIR/disk. */
export function defaultNodeDisk(dataDir: string): string {
  return path.join(dataDir, 'disk');
}
