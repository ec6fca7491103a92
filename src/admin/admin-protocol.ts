import type { DuplicationProtocol } from '../model/catalog.js';
/**
 * The admin socket (DIR/admin.sock): one JSON request per line, one JSON answer per line.
 *
 *   | command       | arguments                                  | result                    |
 *   |---------------|--------------------------------------------|---------------------------|
 *   | disk.create   | name, sizeBytes, replicas, stripeBytes     | DiskInfo                  |
 *   |               | [mirror, protocol]                         |                           |
 *   | disk.set      | name, protocol                             | DiskInfo                  |
 *   | disk.list     |                                            | DiskInfo[]                |
 *   | disk.info     | name                                       | DiskInfo                  |
 *   | disk.resize   | name, sizeBytes                            | DiskInfo                  |
 *   | disk.delete   | name, force                                | { name }                  |
 *   | disk.verify   | name                                       | VerifyReport (verify.ts)  |
 *   | disk.rollback | disk, snapshot, force                      | DiskInfo                  |
 *   | snapshot.create | disk, name                               | SnapshotInfo + timings    |
 *   | snapshot.list | disk                                       | SnapshotInfo[]            |
 *   | snapshot.delete | disk, name, wait                         | { name, collecting }      |
 *   | clone.create  | source (DISK@NAME), name                   | DiskInfo                  |
 *   | server.list   |                                            | ServerInfo[]              |
 *   | server.stop   | id                                         | ServerInfo                |
 *   | server.start  | id                                         | ServerInfo                |
 *
 * An answer is `{ ok: true, result }` or `{ ok: false, code, message }`.
 */
export type AdminRequest =
  | {
      readonly command: 'disk.create';
      readonly name: string;
      readonly sizeBytes: number;
      readonly replicas: 1 | 2;
      readonly stripeBytes: number;
      /** Servers per mirror group ('auto': half the cluster) for the mirror layout. */
      readonly mirror?: number | 'auto';
      readonly protocol?: DuplicationProtocol;
    }
  | { readonly command: 'disk.set'; readonly name: string; readonly protocol: DuplicationProtocol }
  | { readonly command: 'disk.list' }
  | { readonly command: 'disk.info'; readonly name: string }
  | { readonly command: 'disk.resize'; readonly name: string; readonly sizeBytes: number }
  | { readonly command: 'disk.delete'; readonly name: string; readonly force: boolean }
  | { readonly command: 'disk.verify'; readonly name: string }
  | { readonly command: 'disk.rollback'; readonly disk: string; readonly snapshot: string; readonly force: boolean }
  | { readonly command: 'snapshot.create'; readonly disk: string; readonly name: string }
  | { readonly command: 'snapshot.list'; readonly disk: string }
  | { readonly command: 'snapshot.delete'; readonly disk: string; readonly name: string; readonly wait: boolean }
  | { readonly command: 'clone.create'; readonly source: string; readonly name: string }
  | { readonly command: 'server.list' }
  | { readonly command: 'server.stop'; readonly id: number }
  | { readonly command: 'server.start'; readonly id: number };

export type AdminAnswer =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string };

export interface DiskInfo {
  readonly name: string;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
  readonly replicas: number;
  readonly stripeBytes: number;
  readonly epoch: number;
  /** healthy: every copy up; degraded: some copy down or resyncing. */
  readonly health: 'healthy' | 'degraded';
  readonly staleBytes: number;
  readonly connections: number;
  /** The snapshot a clone was made from. */
  readonly origin: string | null;
  readonly snapshots: number;
  /** Background garbage collection: jobs running, bytes freed since the daemon started. */
  readonly collecting: { readonly running: number; readonly freedBytes: number };
  readonly layout: 'chained' | 'mirror';
  /** The mirror layout's duplication, or null for chained declustering. */
  readonly mirror: MirrorInfo | null;
}

export interface MirrorInfo {
  /** Servers per mirror group: 0..G-1 primary, G..2G-1 backup. */
  readonly groupServers: number;
  readonly protocol: DuplicationProtocol;
  /** What the protocol does now (hybrid: by connections). */
  readonly driver: 'server' | 'client';
  readonly sync: boolean;
  /** Bytes answered to clients whose second copy is still being written. */
  readonly lagBytes: number;
  readonly lagBytesMax: number;
  /** Writes answered with one copy while the other was still being written, since whorl started. */
  readonly answeredEarly: number;
}

export interface SnapshotInfo {
  /** The export name, DISK@NAME. */
  readonly name: string;
  readonly disk: string;
  readonly snapshot: string;
  readonly epoch: number;
  readonly sizeBytes: number;
  readonly createdAt: string;
  /** Bytes no other epoch of the disk (nor the disk itself) sees, per copy. */
  readonly heldAloneBytes: number;
  readonly clones: readonly string[];
}

export interface ServerInfo {
  readonly id: number;
  /** In a multi-host cluster: the node whose disk it is. */
  readonly node?: string;
  readonly state: string;
  readonly incarnation: number;
  readonly allocatedBytes: number | null;
  readonly capacityBytes: number | null;
  readonly resyncBytesLeft: number;
  readonly resyncEtaSeconds: number | null;
  /** Stopped: the groups whose other copy lacks none of its writes (no stale mark in their regions). */
  readonly cleanFor: readonly string[];
  /** Stopped: the other groups holding copies on it, whose units may have no complete copy running. */
  readonly soleCopyGroups: readonly string[];
}

export const adminLineBytesMax = 64 * 1024;
