import path from 'node:path';
import { ActorRuntime } from '../actors/runtime.js';
import type { BufferHandle, Lease } from '../actors/buffer-pool.js';
import { liveGmaps, stoppedCleanFor, type ClusterView } from '../model/catalog.js';
import { WhorlError } from '../errors.js';
import type { LogFormat, Logger } from '../log.js';
import { regionBytes } from '../storage/block-keys.js';
import { Router } from '../volumes/router.js';
import { DirectReads } from '../storage/direct-reads.js';
import { CommitTable } from '../storage/commit-table.js';
import { ordererOf, orderersHolding, orderersOf, stripeBytesDefault, unitOfRegion } from '../model/layout.js';
import { replicaGroup, type GroupOptions } from '../groups/replica-group.js';
import type { Behavior } from '../actors/actor.js';
import { loadClusterConfig, type ClusterConfig } from './cluster-config.js';
import { actorModule, copyHandlesPerGroup, heartbeatTimeoutMs, requestTimeoutMs, spawnServer } from './server-spawn.js';

export interface ClusterOptions {
  readonly dataDir: string;
  readonly servers: number;
  /** Each server's disk directory (`--disk`); default DIR/servers/<i>. */
  readonly diskPaths?: readonly string[];
  readonly diskCapacityBytes: number;
  readonly defaultDiskSizeBytes: number;
  readonly defaultReplicas: 1 | 2;
  readonly log: Logger;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  readonly threads?: number;
  readonly readyTimeoutMs?: number;
  /** Per mirror pair: bytes of async writes answered before their second copy is written. */
  readonly mirrorLagBytes?: number;
  /** Regions a replica group lets be written between flushes (tests set it low); see replica-group.ts. */
  readonly busyRegionsMax?: number;
}

/**
 * Bytes per mirror pair that async protocols may answer before the second copy has them (each
 * 64 KiB of it is a buffer the pair's group owns while the cluster runs). FLUSH and FUA still wait
 * for both copies, so this bounds what a reader of the lagging copy would miss, not durability.
 */
export const mirrorLagBytesDefault = 1024 * 1024;
/** The largest `--mirror-lag` accepted. */
export const mirrorLagBytesMax = 64 * 1024 * 1024;
/**
 * What every mirror pair's lag buffers may take together from the shared buffer pool (256 MiB,
 * which client requests need): with many servers there are many pairs (64 servers: 528), and each
 * pair gets at most its share, in whole 64 KiB buffers.
 */
const mirrorLagBytesTotal = 64 * 1024 * 1024;

const serverDiskPath = (dataDir: string, config: ClusterConfig, server: number): string =>
  config.disks?.[server] ?? path.join(dataDir, 'servers', String(server));
const controlCapacityBytes = 256 * 1024 * 1024;
/** How long start-up waits for resyncing servers when a server stopped unclean may be what they wait for. */
const unknownWaitMs = 5_000;

/**
 * The embedded default: a whole cluster in one process. A control actor (its LMDB under
 * DIR/control), N server actors each with one disk actor (DIR/servers/<i>), N replica groups and
 * the router that the NBD front end uses, all on the runtime's worker threads except the router.
 * The mirror groups (one per possible CEFT mirror pair) live with the router on the main thread:
 * the front end is the "client" that duplicates client-driven writes.
 */
export class EmbeddedCluster {
  /** Per mirror pair, the bytes its async writes may lag by: as configured, or its share of the total. */
  readonly mirrorLagBytes: number;
  /** `--mirror-lag` as given (or its default), before the cut to each pair's share. */
  private readonly configuredLagBytes: number;
  private readonly copyLeases: Lease[] = [];

  private constructor(
    readonly runtime: ActorRuntime,
    readonly router: Router,
    readonly config: ClusterConfig,
    private readonly options: ClusterOptions,
    /** Per server: its disk's count of writes not yet committed, shared with `direct`. */
    private readonly commits: readonly CommitTable[],
    private readonly direct: DirectReads,
  ) {
    this.configuredLagBytes = options.mirrorLagBytes ?? mirrorLagBytesDefault;
    const pairs = orderersOf(config.servers).filter((orderer) => orderer.mirror).length;
    const share =
      pairs === 0 ? this.configuredLagBytes : Math.floor(mirrorLagBytesTotal / pairs / regionBytes) * regionBytes;
    this.mirrorLagBytes = Math.min(this.configuredLagBytes, share);
  }

  static async start(options: ClusterOptions): Promise<EmbeddedCluster> {
    const dataDir = path.resolve(options.dataDir);
    const { config, fresh } = loadClusterConfig(dataDir, {
      servers: options.servers,
      diskCapacityBytes: options.diskCapacityBytes,
      ...(options.diskPaths ? { disks: options.diskPaths } : {}),
    });
    const runtime = await ActorRuntime.start({
      threads: options.threads ?? 2,
      log: options.log,
      logLevel: options.logLevel,
      ...(options.logFormat ? { logFormat: options.logFormat } : {}),
    });
    const commits = Array.from({ length: config.servers }, () => CommitTable.create());
    const direct = new DirectReads(
      (server) => serverDiskPath(dataDir, config, server),
      (server) => commits[server]!,
    );
    const router = new Router(runtime, {
      servers: config.servers,
      readTimeoutMs: requestTimeoutMs,
      writeTimeoutMs: requestTimeoutMs * 3,
      orderers: orderersOf(config.servers).map((orderer) => orderer.name),
      direct,
    });
    const cluster = new EmbeddedCluster(runtime, router, config, { ...options, dataDir }, commits, direct);
    try {
      await cluster.spawnAll();
      if (fresh) {
        const created = await router.control({
          op: 'create',
          name: 'default',
          sizeBytes: options.defaultDiskSizeBytes,
          replicas: options.defaultReplicas,
          stripeBytes: stripeBytesDefault,
        });
        if (!created.ok) throw new WhorlError(created.code, `creating the default disk: ${created.message}`);
      }
      await cluster.waitUntilServing(options.readyTimeoutMs ?? 120_000);
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  get servers(): number {
    return this.config.servers;
  }

  /** Reads served on the front end's thread, and reads that went to a server's actor instead. */
  get directReads(): { served: number; declined: number } {
    return { served: this.direct.served, declined: this.direct.declined };
  }

  get view(): ClusterView | undefined {
    return this.router.view;
  }

  /** Takes a server out (operator maintenance, or a failure in tests): its disk closes cleanly. */
  async stopServer(id: number): Promise<void> {
    this.checkServer(id);
    // Stopped already: its disk is closed, and what was found then (clean or not) stands.
    if (!this.runtime.where(`server-${id}`) && this.view?.servers[id]?.state === 'stopped') return;
    const reply = await this.router.control({ op: 'setStopped', server: id, stopped: true });
    if (!reply.ok) throw new WhorlError(reply.code, reply.message);
    this.direct.close(id);
    await this.runtime.retire(`server-${id}`);
    // With its server actor gone no write reaches the disk. A group with no stale mark in its
    // regions there has another copy lacking none of its writes: after a restart (of the daemon or
    // of the group) its recovery can call that copy complete without these marks, which a stopped
    // disk cannot list.
    const marks = this.runtime.where(`disk-${id}`)
      ? await this.router.diskActor(id, { op: 'listMarks', kind: 'stale' })
      : undefined;
    if (marks?.ok) {
      const cleanFor = groupsWithoutMarks(this.router.view, id, this.servers, marks.marks ?? []);
      const recorded = await this.router.control({ op: 'setStopped', server: id, stopped: true, cleanFor });
      if (!recorded.ok) throw new WhorlError(recorded.code, recorded.message);
    }
    await this.runtime.retire(`disk-${id}`);
  }

  /** Brings a server back; its replica groups then copy what it missed (see `server list`). */
  async startServer(id: number): Promise<void> {
    this.checkServer(id);
    if (this.runtime.where(`server-${id}`))
      throw new WhorlError('WHORL_BAD_ARGUMENT', `server ${id} is already running`);
    await this.spawnServer(id);
    const reply = await this.router.control({ op: 'setStopped', server: id, stopped: false });
    if (!reply.ok) throw new WhorlError(reply.code, reply.message);
  }

  async stop(): Promise<void> {
    // An orderly stop gives back the reserved epochs, so the next start need not move past them.
    if (!this.runtime.stopped && this.runtime.where('control'))
      await this.router.control({ op: 'release' }, 5_000).catch(() => undefined);
    this.direct.closeAll();
    await this.runtime.stop();
    for (const lease of this.copyLeases.splice(0)) this.runtime.pool.release(lease.handle);
  }

  private checkServer(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.servers)
      throw new WhorlError('WHORL_BAD_ARGUMENT', `no server ${id} (servers are 0 to ${this.servers - 1})`);
  }

  private threadFor(index: number): number {
    const threads = this.runtime.threadIds.sort((a, b) => a - b);
    return threads.length === 0 ? 0 : threads[index % threads.length]!;
  }

  private async spawnAll(): Promise<void> {
    const { servers } = this.config;
    const orderers = orderersOf(servers);
    if (this.mirrorLagBytes < this.configuredLagBytes) {
      this.options.log.warn(
        { configured: this.configuredLagBytes, perPair: this.mirrorLagBytes },
        "mirror lag cut to each mirror pair's share of the buffer pool",
      );
    }
    await this.runtime.spawn(
      'control',
      {
        module: actorModule('../control/control-actor.js'),
        export: 'controlActor',
        args: [{ servers, subscribers: ['router', ...orderers.map((orderer) => orderer.name)], heartbeatTimeoutMs }],
      },
      this.threadFor(0),
      {
        module: actorModule('../storage/disk-format.js'),
        export: 'openDiskStorage',
        args: [
          {
            path: path.join(this.options.dataDir, 'control'),
            owner: 'control',
            capacityBytes: controlCapacityBytes,
            create: true,
          },
        ],
      },
    );
    const initial = await this.router.control({ op: 'view' });
    if (!initial.ok) throw new WhorlError(initial.code, initial.message);
    for (const { name, primary, secondary, mirror } of orderers) {
      const copyHandles = await this.leaseRegions(copyHandlesPerGroup);
      const lagHandles = mirror ? await this.leaseRegions(Math.floor(this.mirrorLagBytes / regionBytes)) : [];
      const options: GroupOptions = {
        name,
        primary,
        secondary,
        servers,
        requestTimeoutMs,
        copyHandles,
        lagHandles,
        ...(this.options.busyRegionsMax ? { busyRegionsMax: this.options.busyRegionsMax } : {}),
      };
      if (mirror) this.runtime.spawnLocal(name, replicaGroup(options) as Behavior);
      else
        await this.runtime.spawn(
          name,
          { module: actorModule('../groups/replica-group.js'), export: 'replicaGroup', args: [options] },
          this.threadFor(primary),
        );
    }
    for (let id = 0; id < servers; id++) {
      if (initial.view.servers[id]?.state !== 'stopped') await this.spawnServer(id);
    }
  }

  /** 64 KiB buffers the groups own for as long as the cluster runs. */
  private async leaseRegions(count: number): Promise<BufferHandle[]> {
    const handles: BufferHandle[] = [];
    for (let i = 0; i < count; i++) {
      const lease = await this.runtime.pool.lease(regionBytes);
      this.copyLeases.push(lease);
      handles.push(lease.handle);
    }
    return handles;
  }

  private async spawnServer(id: number): Promise<void> {
    const path = serverDiskPath(this.options.dataDir, this.config, id);
    const disk = { path, capacityBytes: this.config.diskCapacityBytes, commits: this.commits[id]!.buffer };
    await spawnServer(this.runtime, id, disk, this.threadFor(id));
  }

  /** Serving starts once every server the operator did not stop is up (recovered after a crash). */
  private async waitUntilServing(timeoutMs: number): Promise<void> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    for (;;) {
      const servers = this.router.view?.servers ?? [];
      const states = servers.map((server) => server.state);
      if (states.length === this.servers && states.every((state) => state === 'up' || state === 'stopped')) return;
      // A server stopped while it held writes its partners lack (stale marks) keeps them resyncing
      // until it is started: serve the rest rather than wait for the operator.
      const unknown = servers
        .filter(
          (server) =>
            server.state === 'stopped' &&
            orderersHolding(server.id, this.servers).some((group) => !stoppedCleanFor(server, group)),
        )
        .map((server) => server.id);
      const waiting = servers
        .filter((server) => server.state !== 'up' && server.state !== 'stopped')
        .map((server) => server.id);
      if (
        states.length === this.servers &&
        unknown.length > 0 &&
        waiting.every((id) => servers[id]!.state === 'resyncing') &&
        Date.now() > started + unknownWaitMs
      ) {
        this.options.log.warn(
          { resyncing: waiting, stopped: unknown },
          `servers ${waiting.join(', ')} stay resyncing until server ${unknown.join(', ')} starts: it was stopped holding writes they may lack ('whorl server start ID')`,
        );
        return;
      }
      if (Date.now() > deadline)
        throw new WhorlError('WHORL_TIMEOUT', `servers not up after ${timeoutMs} ms: ${states.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * The groups holding copies on `server` none of whose regions has a stale mark in `marks`. Marks
 * in a global map no disk reads any more are left out, as recovery leaves them (recovery.ts).
 */
function groupsWithoutMarks(
  view: ClusterView | undefined,
  server: number,
  servers: number,
  marks: ReadonlyArray<{ gmap: number; region: number }>,
): string[] {
  if (!view) return [];
  const holding = orderersHolding(server, servers);
  const gmaps = liveGmaps(view.disks);
  const marked = new Set<string>();
  for (const { gmap, region } of marks) {
    const entry = gmaps.get(gmap);
    if (!entry) continue;
    marked.add(ordererOf(entry.layout, unitOfRegion(entry.layout, region)));
  }
  return holding.filter((group) => !marked.has(group));
}
