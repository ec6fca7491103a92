import type { BufferPool } from '../actors/buffer-pool.js';
import type { Backend, ExportCatalog, ExportListing } from '../nbd/backend.js';
import { snapshotSeparator } from '../model/catalog.js';
import type { Router } from './router.js';
import { VolumeBackend } from './volume-backend.js';

/**
 * The virtual disks and their snapshots (DISK@NAME, read-only) as NBD exports, by name; the empty
 * name is the disk called 'default'.
 */
export class VolumeCatalog implements ExportCatalog {
  private readonly backends = new Map<string, VolumeBackend>();

  constructor(
    private readonly router: Router,
    private readonly pool: BufferPool,
  ) {}

  list(): ExportListing[] {
    const names = (this.router.view?.disks ?? []).flatMap((disk) => [
      disk.name,
      ...disk.snapshots.map((snapshot) => `${disk.name}${snapshotSeparator}${snapshot.name}`),
    ]);
    return names.map((name) => ({ name, description: this.open(name)!.description }));
  }

  open(name: string): Backend | undefined {
    const wanted = name === '' ? 'default' : name;
    if (!this.router.target(wanted)) return undefined;
    let backend = this.backends.get(wanted);
    if (!backend) {
      backend = new VolumeBackend(wanted, this.router, this.pool, {
        attach: (disk) => this.router.sessions.attach(disk, 1),
        detach: (disk) => this.router.sessions.attach(disk, -1),
      });
      this.backends.set(wanted, backend);
    }
    return backend;
  }

  /** NBD connections in transmission on a disk. */
  connections(name: string): number {
    return this.router.sessions.connections(name);
  }

  /** Drops the backend of a deleted export (a disk's snapshots go with it). */
  forget(name: string): void {
    for (const exported of [...this.backends.keys()]) {
      if (exported === name || exported.startsWith(`${name}${snapshotSeparator}`)) this.backends.delete(exported);
    }
  }
}
