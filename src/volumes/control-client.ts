import { newerView, resolveExport, type ClusterView, type ExportTarget, type VirtualDisk } from '../model/catalog.js';
import type { ControlReply, ControlRequest } from '../control/control-protocol.js';
import { existingDisk } from '../control/snapshots.js';

/**
 * The router's side of the control plane: the newest ClusterView it has seen (pushed, or in a
 * reply), the exports and disks it names (resolved once per view: every request asks), and
 * requests to the control actor, whose answers bring views too.
 */
export class ControlClient {
  private view_: ClusterView | undefined;
  private readonly targets = new Map<string, ExportTarget>();
  private readonly disksByName = new Map<string, VirtualDisk>();

  /**
   * `ask` sends a request to the control actor; `onView` hears each newer view once adopted. With
   * `subscribeEveryMs` (the control actor runs on another node): it (re)subscribes that often,
   * since the control actor keeps its subscribers in memory, so one started anew on another node
   * learns of this router again.
   */
  constructor(
    private readonly ask: (body: ControlRequest, timeoutMs: number) => Promise<ControlReply>,
    private readonly onView: (view: ClusterView) => void,
    subscribeEveryMs?: number,
  ) {
    if (subscribeEveryMs) {
      const subscribe = () => void this.control({ op: 'subscribe' }, subscribeEveryMs).catch(() => undefined);
      setInterval(subscribe, subscribeEveryMs).unref();
      setImmediate(subscribe);
    }
  }

  get view(): ClusterView | undefined {
    return this.view_;
  }

  /** The disk named `name`; WHORL_EXPORT_NOT_FOUND if there is none (admin commands). */
  disk(name: string): VirtualDisk {
    return existingDisk(this.disksByName, name);
  }

  /** The disk or snapshot an export name stands for. */
  target(name: string): ExportTarget | undefined {
    if (!this.view_) return undefined;
    let target = this.targets.get(name);
    if (target) return target;
    target = resolveExport(this.view_.disks, name);
    // Only exports that exist are kept: a client may ask for any name.
    if (target) this.targets.set(name, target);
    return target;
  }

  /** Asks the control actor (admin commands, start-up); a view it answers with is adopted. */
  async control(body: ControlRequest, timeoutMs = 10_000): Promise<ControlReply> {
    const reply = await this.ask(body, timeoutMs);
    if (reply.ok) this.adopt(reply.view);
    return reply;
  }

  /** A view pushed or answered: kept if newer than the one held. */
  adopt(view: ClusterView): void {
    if (!newerView(view, this.view_)) return;
    this.view_ = view;
    this.targets.clear();
    this.disksByName.clear();
    for (const disk of view.disks) this.disksByName.set(disk.name, disk);
    this.onView(view);
  }
}
