import type { ActorStorage } from '../actors/actor.js';
import type { ServerState, VirtualDisk } from '../model/catalog.js';

/**
 * The control actor's keys (one LMDB environment, opened with the disk format's checks and owner
 * "control").
 *
 *   | key                | value                                            |
 *   |--------------------|--------------------------------------------------|
 *   | vdir:<name>        | JSON VirtualDisk (catalog.ts)                    |
 *   | gmap:next          | JSON number: the next global map id to hand out  |
 *   | stopped:<server>   | the operator took this server out: empty, or     |
 *   |                    | JSON {"cleanFor":[group...]}: the groups whose   |
 *   |                    | regions had no stale mark on its disk once no    |
 *   |                    | write could reach it (their other copy is whole) |
 *   | term:<group>       | JSON number: the newest term handed to the group |
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ControlStore {
  constructor(private readonly storage: ActorStorage) {}

  disks(): VirtualDisk[] {
    // Disks stored before snapshots existed have no base and no snapshots.
    return this.storage
      .range('vdir:', 'vdir;')
      .map(
        ([, value]) =>
          ({ base: [], snapshots: [], ...(JSON.parse(decoder.decode(value)) as Partial<VirtualDisk>) }) as VirtualDisk,
      );
  }

  putDisk(disk: VirtualDisk): void {
    this.storage.put(`vdir:${disk.name}`, encoder.encode(JSON.stringify(disk)));
  }

  deleteDisk(name: string): void {
    this.storage.delete(`vdir:${name}`);
  }

  /** Global map ids are never reused, so a deleted disk's leftovers can never show in a new one. */
  nextGmap(): number {
    const stored = this.storage.get('gmap:next');
    const gmap = stored ? (JSON.parse(decoder.decode(stored)) as number) : 1;
    this.storage.put('gmap:next', encoder.encode(JSON.stringify(gmap + 1)));
    return gmap;
  }

  /** The newest term handed to replica group `group` (0: none yet). */
  term(group: string): number {
    const stored = this.storage.get(`term:${group}`);
    return stored ? (JSON.parse(decoder.decode(stored)) as number) : 0;
  }

  putTerm(group: string, term: number): void {
    this.storage.put(`term:${group}`, encoder.encode(JSON.stringify(term)));
  }

  /** Stopped servers, each with the groups it stopped clean for (see `setStopped`). */
  stoppedServers(): Map<number, string[]> {
    return new Map(
      this.storage
        .range('stopped:', 'stopped;')
        .map(([key, value]): [number, string[]] => [
          Number(key.slice('stopped:'.length)),
          value.length > 0 ? ((JSON.parse(decoder.decode(value)) as { cleanFor?: string[] }).cleanFor ?? []) : [],
        ]),
    );
  }

  /** Servers' states as last recorded (`setLiveness`): a control actor started anew resumes from them. */
  liveness(): Map<number, { state: ServerState; incarnation: number }> {
    return new Map(
      this.storage
        .range('live:', 'live;')
        .map(([key, value]) => [
          Number(key.slice('live:'.length)),
          JSON.parse(decoder.decode(value)) as { state: ServerState; incarnation: number },
        ]),
    );
  }

  setLiveness(server: number, state: ServerState, incarnation: number): void {
    this.storage.put(`live:${server}`, encoder.encode(JSON.stringify({ state, incarnation })));
  }

  /** `cleanFor`: groups whose regions had no stale mark on the server's disk once no write could reach it. */
  setStopped(server: number, stopped: boolean, cleanFor: readonly string[] = []): void {
    if (stopped)
      this.storage.put(
        `stopped:${server}`,
        cleanFor.length > 0 ? encoder.encode(JSON.stringify({ cleanFor })) : new Uint8Array(0),
      );
    else this.storage.delete(`stopped:${server}`);
  }
}
