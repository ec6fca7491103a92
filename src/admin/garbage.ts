import type { Logger } from '../log.js';
import { liveGmaps, type ClusterView, type VirtualDisk } from '../model/catalog.js';
import type { DiskRequest } from '../storage/disk-protocol.js';
import type { Router } from '../volumes/router.js';

/** What collecting a gmap's garbage asks of every running server's disk. */
type Collection = Extract<DiskRequest, { op: 'prune' | 'drop' }>;

/** Progress of the background collection of blocks no export reads any more. */
export interface CollectionStatus {
  readonly running: number;
  readonly freedBytes: number;
}

/**
 * Frees what a change of the VDir left unread: a global map no export reads is dropped; one whose
 * live epochs shrank is pruned of the versions no live epoch sees. Runs in the background on
 * every running server (the disks prune in steps between client requests); a server that is not
 * running keeps its garbage (global map ids are never reused, so it can never show).
 */
export class GarbageCollector {
  private running = 0;
  private freedBytes = 0;

  constructor(
    private readonly router: Router,
    private readonly runningServers: () => number[],
    private readonly log: Logger,
  ) {}

  get status(): CollectionStatus {
    return { running: this.running, freedBytes: this.freedBytes };
  }

  /** Starts collecting what `after` no longer reads of `before`; resolves when done. */
  collect(before: readonly VirtualDisk[], after: readonly VirtualDisk[]): Promise<void> {
    const was = liveGmaps(before);
    const now = liveGmaps(after);
    const jobs: Array<Promise<void>> = [];
    for (const [gmap, { live }] of was) {
      const still = now.get(gmap);
      if (still && still.live.length === live.length && still.live.every((epoch, i) => epoch === live[i])) continue;
      jobs.push(this.everywhere(still ? { op: 'prune', gmap, live: still.live } : { op: 'drop', gmap }));
    }
    return Promise.all(jobs).then(() => undefined);
  }

  /**
   * After a crash the control actor moved some disks past their reserved epoch: what the older
   * epoch holds and a newer one overwrote is garbage, pruned here once at start (at most one such
   * older version per block is left between crashes).
   */
  collectResumed(view: ClusterView): Promise<void> {
    const live = liveGmaps(view.disks);
    const moved = view.disks.filter((disk) => view.resumed?.includes(disk.name));
    return Promise.all(
      moved.map((disk) => this.everywhere({ op: 'prune', gmap: disk.gmap, live: live.get(disk.gmap)!.live })),
    ).then(() => undefined);
  }

  /** Runs one collection request on every running server. */
  private everywhere(body: Collection): Promise<void> {
    return Promise.all(this.runningServers().map((server) => this.run(server, body))).then(() => undefined);
  }

  private async run(server: number, body: Collection): Promise<void> {
    this.running += 1;
    try {
      const reply = await this.router.server(server, body, 3_600_000);
      if (reply.ok) this.freedBytes += 'bytes' in reply ? reply.bytes : 0;
      else this.log.warn({ server, ...body, code: reply.code, message: reply.message }, 'garbage collection failed');
    } finally {
      this.running -= 1;
    }
  }
}
