import type { ActorContext } from '../actors/actor.js';
import { address } from '../actors/address.js';
import type { ControlRequest } from '../control/control-protocol.js';
import { regionBytes } from '../storage/block-keys.js';

/** How often, at most, recovery reports its progress while it copies. */
const progressMs = 500;

/**
 * What recovery tells the control actor of a resync while it runs (`whorl server list` shows it):
 * the bytes left to copy and the rate so far, from the first pass of the resync until it ends.
 */
export class RecoveryProgress {
  private copiedBytes = 0;
  private startedMs = 0;
  private lastReportMs = 0;

  constructor(
    private readonly context: ActorContext,
    private readonly group: string,
  ) {}

  /** A pass starts: the resync starts with the first one. */
  passStarted(): void {
    if (this.startedMs === 0) this.startedMs = this.context.now();
  }

  copied(regions: number): void {
    this.copiedBytes += regions * regionBytes;
  }

  /** The resync is over: the next starts afresh. */
  ended(): void {
    this.copiedBytes = 0;
    this.startedMs = 0;
  }

  /** Reports, for each server waiting on the resync, `regionsLeft` to copy (at most every 500 ms). */
  report(servers: Iterable<number>, regionsLeft: number): void {
    const now = this.context.now();
    if (now - this.lastReportMs < progressMs && regionsLeft > 0) return;
    this.lastReportMs = now;
    const seconds = Math.max((now - this.startedMs) / 1000, 0.001);
    const bytesPerSecond = Math.round(this.copiedBytes / seconds);
    const control = address(this.context.self.node, 'control');
    for (const server of servers) {
      this.context.send(control, {
        op: 'progress',
        group: this.group,
        server,
        bytesLeft: regionsLeft * regionBytes,
        bytesPerSecond,
      } satisfies ControlRequest);
    }
  }
}
