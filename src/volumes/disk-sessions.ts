import type { Duplication } from '../groups/group-protocol.js';
import type { VirtualDisk } from '../model/catalog.js';
import { duplicationFor } from './read-placement.js';
import { WriteGate } from './write-gate.js';

/**
 * What the router keeps per virtual disk for the clients attached to it: the gate its writes
 * pass (closed while a snapshot changes its epoch), and how many NBD connections are in
 * transmission on it, from which a hybrid mirror disk's duplication follows.
 */
export class DiskSessions {
  private readonly gates = new Map<string, WriteGate>();
  private readonly attached = new Map<string, number>();

  /** The gate a disk's writes pass, closed while a snapshot changes its epoch. */
  writeGate(disk: string): WriteGate {
    let gate = this.gates.get(disk);
    if (!gate) {
      gate = new WriteGate();
      this.gates.set(disk, gate);
    }
    return gate;
  }

  /** NBD connections in transmission on a disk (the front end counts them; hybrid duplication reads them). */
  connections(name: string): number {
    return this.attached.get(name) ?? 0;
  }

  attach(name: string, delta: 1 | -1): void {
    this.attached.set(name, Math.max(0, this.connections(name) + delta));
  }

  /** How a mirror disk's writes are duplicated now (read-placement.ts). */
  duplicationOf(disk: VirtualDisk): Duplication | undefined {
    return duplicationFor(disk, this.connections(disk.name));
  }
}
