import { performance } from 'node:perf_hooks';
import type { ServedCluster } from '../cluster/served.js';
import { liveGmaps, snapshotSeparator, type Snapshot, type VirtualDisk } from '../model/catalog.js';
import type { ControlReply, ControlRequest } from '../control/control-protocol.js';
import { existingSnapshot } from '../control/snapshots.js';
import { WhorlError } from '../errors.js';
import type { VolumeCatalog } from '../volumes/volume-catalog.js';
import type { SnapshotInfo } from './admin-protocol.js';
import type { GarbageCollector } from './garbage.js';

type ControlAnswer = Extract<ControlReply, { ok: true }>;

/**
 * The admin commands of Petal's snapshots: create (new writes held at the router while the
 * control actor moves the disk to its reserved next epoch; the command answers once the snapshot
 * is on stable storage and the writes in flight, which carry the old epoch, are answered — so the
 * snapshot holds every write answered before the command and none answered after it), list,
 * delete (then garbage collection), clone and rollback.
 */
export class SnapshotAdmin {
  constructor(
    private readonly cluster: ServedCluster,
    private readonly catalog: VolumeCatalog,
    private readonly collector: GarbageCollector,
    private readonly runningServers: () => number[],
  ) {}

  async create(diskName: string, name: string): Promise<SnapshotInfo & { pauseMs: number; tookMs: number }> {
    const started = performance.now();
    // Writes in flight carry the old epoch and belong to the snapshot: the command answers only
    // once they are answered, so any write answered after it went to the new epoch.
    const { reply, pauseMs, drained } = await this.withWritesHeld(
      diskName,
      { op: 'snapshot', disk: diskName, name },
      false,
    );
    // The control actor may answer before the snapshot's record is on stable storage (the new
    // epoch was reserved there): the command answers once it is.
    const synced = await this.control({ op: 'sync' });
    const disk = synced.view.disks.find((candidate) => candidate.name === diskName);
    const snapshot = disk?.snapshots.find(
      (candidate) => candidate.name === name && candidate.epoch === reply.snapshot!.epoch,
    );
    if (!disk || !snapshot)
      throw new WhorlError(
        'WHORL_IO',
        `snapshot '${diskName}${snapshotSeparator}${name}' was lost before it reached stable storage (the control actor restarted); take it again`,
      );
    await drained;
    const tookMs = performance.now() - started;
    // A new snapshot holds nothing alone yet: the disk's new epoch still sees all of it.
    return { ...this.describe(disk, snapshot, synced.view.disks, 0), pauseMs, tookMs };
  }

  async list(diskName: string): Promise<SnapshotInfo[]> {
    const disk = this.cluster.router.disk(diskName);
    const disks = this.cluster.view?.disks ?? [];
    return Promise.all(disk.snapshots.map((snapshot) => this.info(disk, snapshot.name, disks)));
  }

  async delete(diskName: string, name: string, wait: boolean): Promise<{ name: string; collecting: boolean }> {
    const before = this.cluster.view?.disks ?? [];
    const reply = await this.control({ op: 'unsnapshot', disk: diskName, name });
    const full = `${diskName}${snapshotSeparator}${name}`;
    this.catalog.forget(full);
    const collected = this.collector.collect(before, reply.view.disks);
    if (wait) await collected;
    return { name: full, collecting: !wait };
  }

  async clone(source: string, name: string): Promise<VirtualDisk> {
    return (await this.control({ op: 'clone', source, name })).disk!;
  }

  async rollback(diskName: string, snapshot: string, force: boolean): Promise<VirtualDisk> {
    existingSnapshot(this.cluster.router.disk(diskName), snapshot);
    const connections = this.catalog.connections(diskName);
    if (connections > 0 && !force) {
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `disk '${diskName}' has ${connections} NBD connection${connections === 1 ? '' : 's'}; disconnect them or use --force`,
      );
    }
    const before = this.cluster.view?.disks ?? [];
    const { reply } = await this.withWritesHeld(diskName, { op: 'rollback', disk: diskName, snapshot }, true);
    await this.collector.collect(before, reply.view.disks);
    return reply.disk!;
  }

  /**
   * Asks the control actor while the disk's new writes are held (the change must be durable
   * before a write goes to the new epoch or map). With `drainFirst`, the writes already in flight
   * are answered before the change too (a rollback must not lose them to the old map).
   */
  private async withWritesHeld(
    diskName: string,
    body: ControlRequest,
    drainFirst: boolean,
  ): Promise<{ reply: ControlAnswer; pauseMs: number; drained: Promise<void> }> {
    this.cluster.router.disk(diskName);
    const gate = this.cluster.router.sessions.writeGate(diskName);
    const { drained } = await gate.hold();
    const held = performance.now();
    try {
      if (drainFirst) await drained;
      return { reply: await this.control(body), pauseMs: performance.now() - held, drained };
    } finally {
      gate.open();
    }
  }

  private async control(body: ControlRequest): Promise<ControlAnswer> {
    const reply = await this.cluster.router.control(body);
    if (!reply.ok) throw new WhorlError(reply.code, reply.message);
    return reply;
  }

  /** The bytes only this snapshot's epoch sees, summed over running servers, per copy. */
  private async info(disk: VirtualDisk, name: string, disks: readonly VirtualDisk[]): Promise<SnapshotInfo> {
    const snapshot = disk.snapshots.find((candidate) => candidate.name === name)!;
    const live = liveGmaps(disks).get(snapshot.gmap)?.live ?? [snapshot.epoch];
    let bytes = 0;
    for (const server of this.runningServers()) {
      const reply = await this.cluster.router.server(
        server,
        { op: 'heldAlone', gmap: snapshot.gmap, epoch: snapshot.epoch, live },
        60_000,
      );
      if (reply.ok) bytes += reply.bytes ?? 0;
    }
    return this.describe(disk, snapshot, disks, Math.round(bytes / disk.replicas));
  }

  private describe(
    disk: VirtualDisk,
    snapshot: Snapshot,
    disks: readonly VirtualDisk[],
    heldAloneBytes: number,
  ): SnapshotInfo {
    return {
      name: `${disk.name}${snapshotSeparator}${snapshot.name}`,
      disk: disk.name,
      snapshot: snapshot.name,
      epoch: snapshot.epoch,
      sizeBytes: snapshot.sizeBytes,
      createdAt: new Date(snapshot.createdAtMs).toISOString(),
      heldAloneBytes,
      clones: disks
        .filter((other) => other.origin === `${disk.name}${snapshotSeparator}${snapshot.name}`)
        .map((other) => other.name),
    };
  }
}
