/**
 * Holds a disk's new writes while a snapshot changes its epoch: `close` waits until the writes
 * already admitted have been answered, `open` lets the held ones go on (in the new epoch).
 */
export class WriteGate {
  private admitted = 0;
  private closed: Promise<void> | undefined;
  private reopen: (() => void) | undefined;
  private drained: (() => void) | undefined;

  /** Resolves when a write may start; pair with `leave`. */
  async enter(): Promise<void> {
    while (this.closed) await this.closed;
    this.admitted += 1;
  }

  leave(): void {
    this.admitted -= 1;
    if (this.admitted === 0) this.drained?.();
  }

  /** Holds new writes and resolves once none is in flight. One closer at a time. */
  async close(): Promise<void> {
    while (this.closed) await this.closed;
    this.closed = new Promise((resolve) => (this.reopen = resolve));
    if (this.admitted > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.drained = undefined;
  }

  open(): void {
    const reopen = this.reopen;
    this.closed = undefined;
    this.reopen = undefined;
    reopen?.();
  }
}
