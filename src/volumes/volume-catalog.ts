import type { BufferPool } from '../actors/buffer-pool.js';
import type { Backend, ExportCatalog, ExportListing } from '../nbd/backend.js';
import type { Router } from './router.js';
import { VolumeBackend } from './volume-backend.js';

/** The virtual disks as NBD exports, by name; the empty name is the disk called 'default'. */
export class VolumeCatalog implements ExportCatalog {
  private readonly backends = new Map<string, VolumeBackend>();
  private readonly attached = new Map<string, number>();

  constructor(
    private readonly router: Router,
    private readonly pool: BufferPool,
  ) {}

  list(): ExportListing[] {
    return (this.router.view?.disks ?? []).map((disk) => ({ name: disk.name, description: this.open(disk.name)!.description }));
  }

  open(name: string): Backend | undefined {
    const wanted = name === '' ? 'default' : name;
    if (!this.router.disk(wanted)) return undefined;
    let backend = this.backends.get(wanted);
    if (!backend) {
      backend = new VolumeBackend(wanted, this.router, this.pool, {
        attach: (disk) => this.attached.set(disk, (this.attached.get(disk) ?? 0) + 1),
        detach: (disk) => this.attached.set(disk, (this.attached.get(disk) ?? 1) - 1),
      });
      this.backends.set(wanted, backend);
    }
    return backend;
  }

  /** NBD connections in transmission on a disk. */
  connections(name: string): number {
    return this.attached.get(name) ?? 0;
  }

  forget(name: string): void {
    this.backends.delete(name);
  }
}
