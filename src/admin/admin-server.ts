import net from 'node:net';
import fs from 'node:fs';
import type { ServedCluster } from '../cluster/served.js';
import { stoppedCleanFor, type ExportTarget, type VirtualDisk } from '../model/catalog.js';
import { WhorlError, isWhorlError } from '../errors.js';
import type { Logger } from '../log.js';
import { regionBytes } from '../storage/block-keys.js';
import { verifyReplicas } from './verify.js';
import { GarbageCollector } from './garbage.js';
import { SnapshotAdmin } from './snapshot-admin.js';
import { orderersHolding } from '../model/layout.js';
import type { VolumeCatalog } from '../volumes/volume-catalog.js';
import {
  adminLineBytesMax,
  type AdminAnswer,
  type AdminRequest,
  type DiskInfo,
  type MirrorInfo,
  type ServerInfo,
} from './admin-protocol.js';

/** Serves the admin socket of a running daemon: the CLI's `whorl disk …` and `whorl server …`. */
export class AdminServer {
  private server: net.Server | undefined;
  private readonly collector: GarbageCollector;
  private readonly snapshots: SnapshotAdmin;

  constructor(
    private readonly cluster: ServedCluster,
    private readonly catalog: VolumeCatalog,
    private readonly log: Logger,
  ) {
    this.collector = new GarbageCollector(cluster.router, () => this.runningServers(), log);
    this.snapshots = new SnapshotAdmin(cluster, catalog, this.collector, () => this.runningServers());
  }

  async listen(socketPath: string): Promise<void> {
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer((socket) => this.accept(socket));
    // Made owner-only from the start (no moment when others may connect), then checked: a file
    // system that ignores modes would leave every admin command open to every local user.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    fs.chmodSync(socketPath, 0o600);
    const { mode, uid } = fs.statSync(socketPath);
    if ((mode & 0o777) !== 0o600 || uid !== process.getuid?.()) {
      server.close();
      throw new Error(
        `admin socket ${socketPath}: mode ${(mode & 0o777).toString(8)}, owner ${uid}; it must be 600 and ours`,
      );
    }
    this.server = server;
    const view = this.cluster.view;
    if (view?.resumed) void this.collector.collectResumed(view);
  }

  close(): void {
    this.server?.close();
  }

  private accept(socket: net.Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > adminLineBytesMax)
        return this.send(socket, { ok: false, code: 'WHORL_BAD_ARGUMENT', message: 'request too long' }, true);
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      void this.answer(line).then((answer) => this.send(socket, answer, false));
    });
  }

  private send(socket: net.Socket, answer: AdminAnswer, close: boolean): void {
    socket.write(`${JSON.stringify(answer)}\n`);
    if (close) socket.end();
  }

  private async answer(line: string): Promise<AdminAnswer> {
    let request: AdminRequest;
    try {
      request = JSON.parse(line) as AdminRequest;
    } catch {
      return { ok: false, code: 'WHORL_BAD_ARGUMENT', message: 'request is not JSON' };
    }
    try {
      const result = await this.run(request);
      this.log.info({ command: request.command }, 'admin command');
      return { ok: true, result };
    } catch (error) {
      if (!isWhorlError(error)) this.log.error({ err: error, command: request.command }, 'admin command failed');
      return {
        ok: false,
        code: isWhorlError(error) ? error.code : 'WHORL_IO',
        message: error instanceof Error ? error.message : String(error),
      };
    }
  }

  private async run(request: AdminRequest): Promise<unknown> {
    const router = this.cluster.router;
    switch (request.command) {
      case 'disk.create': {
        const mirror = request.mirror === 'auto' ? Math.floor(this.cluster.servers / 2) : request.mirror;
        const layout = mirror === undefined ? {} : { mirror, protocol: request.protocol };
        const reply = await router.control({
          op: 'create',
          name: request.name,
          sizeBytes: request.sizeBytes,
          replicas: request.replicas,
          stripeBytes: request.stripeBytes,
          ...layout,
        });
        if (!reply.ok) throw new WhorlError(reply.code, reply.message);
        return this.diskInfo(reply.disk!);
      }
      case 'disk.set': {
        const reply = await router.control({ op: 'set', name: request.name, protocol: request.protocol });
        if (!reply.ok) throw new WhorlError(reply.code, reply.message);
        return this.diskInfo(reply.disk!);
      }
      case 'disk.list':
        return Promise.all((router.view?.disks ?? []).map((disk) => this.diskInfo(disk)));
      case 'disk.info':
        return this.diskInfo(this.cluster.router.disk(request.name));
      case 'disk.resize': {
        const reply = await router.control({ op: 'resize', name: request.name, sizeBytes: request.sizeBytes });
        if (!reply.ok) throw new WhorlError(reply.code, reply.message);
        return this.diskInfo(reply.disk!);
      }
      case 'disk.delete':
        return this.deleteDisk(request.name, request.force);
      case 'disk.verify':
        return verifyReplicas(this.cluster.router, this.cluster.runtime.pool, this.target(request.name));
      case 'disk.rollback':
        return this.diskInfo(await this.snapshots.rollback(request.disk, request.snapshot, request.force));
      case 'snapshot.create':
        return this.snapshots.create(request.disk, request.name);
      case 'snapshot.list':
        return this.snapshots.list(request.disk);
      case 'snapshot.delete':
        return this.snapshots.delete(request.disk, request.name, request.wait);
      case 'clone.create':
        return this.diskInfo(await this.snapshots.clone(request.source, request.name));
      case 'server.list':
        return this.serverInfos();
      case 'server.stop':
        await this.cluster.stopServer(request.id);
        return (await this.serverInfos())[request.id];
      case 'server.start':
        await this.cluster.startServer(request.id);
        return (await this.serverInfos())[request.id];
      default:
        throw new WhorlError('WHORL_BAD_ARGUMENT', `unknown command '${(request as { command?: unknown }).command}'`);
    }
  }

  private target(name: string): ExportTarget {
    const target = this.cluster.router.target(name);
    if (!target) throw new WhorlError('WHORL_EXPORT_NOT_FOUND', `no virtual disk or snapshot named '${name}'`);
    return target;
  }

  private async deleteDisk(name: string, force: boolean): Promise<unknown> {
    const disk = this.cluster.router.disk(name);
    const connections = this.catalog.connections(name);
    if (connections > 0 && !force) {
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `disk '${name}' has ${connections} NBD connection${connections === 1 ? '' : 's'}; disconnect them or use --force`,
      );
    }
    const before = this.cluster.view?.disks ?? [];
    const reply = await this.cluster.router.control({ op: 'delete', name: disk.name });
    if (!reply.ok) throw new WhorlError(reply.code, reply.message);
    this.catalog.forget(name);
    // Free the space of the disk and its snapshots on every server that is running.
    await this.collector.collect(before, reply.view.disks);
    return { name };
  }

  private runningServers(): number[] {
    return (this.cluster.view?.servers ?? [])
      .filter((server) => server.state !== 'stopped' && server.state !== 'down')
      .map((server) => server.id);
  }

  private async diskInfo(disk: VirtualDisk): Promise<DiskInfo> {
    const servers = this.cluster.view?.servers ?? [];
    let physical = 0;
    let stale = 0;
    for (const id of this.runningServers()) {
      const stats = await this.cluster.router.server(id, { op: 'stats', gmap: disk.gmap });
      if (stats.ok) physical += stats.allocatedBytes ?? 0;
      const marks = await this.cluster.router.server(id, { op: 'listMarks', kind: 'stale' });
      if (marks.ok) stale += (marks.marks ?? []).filter((mark) => mark.gmap === disk.gmap).length * regionBytes;
    }
    const health = servers.every((server) => server.state === 'up') ? 'healthy' : 'degraded';
    return {
      name: disk.name,
      sizeBytes: disk.sizeBytes,
      allocatedBytes: Math.round(physical / disk.replicas),
      replicas: disk.replicas,
      stripeBytes: disk.stripeBytes,
      epoch: disk.epoch,
      health,
      staleBytes: stale,
      connections: this.catalog.connections(disk.name),
      origin: disk.origin ?? null,
      snapshots: disk.snapshots.length,
      collecting: this.collector.status,
      layout: disk.mirror ? 'mirror' : 'chained',
      mirror: this.mirrorInfo(disk),
    };
  }

  private mirrorInfo(disk: VirtualDisk): MirrorInfo | null {
    const duplication = this.cluster.router.sessions.duplicationOf(disk);
    if (!disk.mirror || !disk.protocol || !duplication) return null;
    return {
      groupServers: disk.mirror,
      protocol: disk.protocol,
      ...duplication,
      lagBytes: this.cluster.router.lagBytes(disk),
      lagBytesMax: this.cluster.mirrorLagBytes,
      answeredEarly: this.cluster.router.answeredEarly(disk),
    };
  }

  private async serverInfos(): Promise<ServerInfo[]> {
    const servers = this.cluster.view?.servers ?? [];
    return Promise.all(
      servers.map(async (server): Promise<ServerInfo> => {
        const running = server.state !== 'stopped' && server.state !== 'down';
        const stats = running ? await this.cluster.router.server(server.id, { op: 'stats' }, 5000) : undefined;
        const node = this.cluster.nodeOf?.(server.id);
        return {
          id: server.id,
          ...(node !== undefined ? { node } : {}),
          state: server.state,
          incarnation: server.incarnation,
          allocatedBytes: stats?.ok ? (stats.allocatedBytes ?? null) : null,
          capacityBytes: stats?.ok ? (stats.capacityBytes ?? null) : null,
          resyncBytesLeft: server.resyncBytesLeft,
          resyncEtaSeconds:
            server.resyncBytesLeft > 0 && server.resyncBytesPerSecond > 0
              ? Math.ceil(server.resyncBytesLeft / server.resyncBytesPerSecond)
              : null,
          cleanFor: server.cleanFor ?? [],
          soleCopyGroups:
            server.state === 'stopped'
              ? orderersHolding(server.id, servers.length).filter((group) => !stoppedCleanFor(server, group))
              : [],
        };
      }),
    );
  }
}
