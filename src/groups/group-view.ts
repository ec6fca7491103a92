import type { ActorContext } from '../actors/actor.js';
import { address } from '../actors/address.js';
import { newerView, type ClusterView, type ServerState } from '../model/catalog.js';
import type { ControlRequest } from '../control/control-protocol.js';

/**
 * A replica group's view of the cluster: the newest ClusterView it has (pushed, or asked for),
 * and the servers seen with a new incarnation since recovery last reconciled them.
 */
export class GroupView {
  private view_: ClusterView | undefined;
  private readonly incarnations = new Map<number, number>();
  /**
   * Servers seen with a new incarnation (their process restarted, so unflushed writes may be
   * lost or torn) since recovery last reconciled them: a busy region is copied from the partner.
   * Recovery removes those it reconciled.
   */
  readonly restarted = new Set<number>();
  private viewRequest = -1;

  /** `onView` hears each newer view once adopted. */
  constructor(
    private readonly context: ActorContext,
    private readonly requestTimeoutMs: number,
    private readonly onView: (view: ClusterView) => void,
  ) {}

  get view(): ClusterView | undefined {
    return this.view_;
  }

  state(server: number): ServerState | undefined {
    return this.view_?.servers[server]?.state;
  }

  /** A view pushed or fetched: kept if newer; a server whose incarnation changed has restarted. */
  adopt(next: ClusterView): void {
    if (!newerView(next, this.view_)) return;
    this.view_ = next;
    for (const server of next.servers) {
      if (server.incarnation < 0) continue;
      const before = this.incarnations.get(server.id);
      if (before !== undefined && before !== server.incarnation) this.restarted.add(server.id);
      this.incarnations.set(server.id, server.incarnation);
    }
    this.onView(next);
  }

  /**
   * Asks the control actor for its view: at start (a restarted group learns it at once rather than
   * at the next change), and when recovery finds the view it has lags behind what it is asked.
   */
  refresh(): void {
    const control = address(this.context.self.node, 'control');
    this.viewRequest = this.context.request(control, { op: 'view' } satisfies ControlRequest, this.requestTimeoutMs);
  }

  /** Whether a reply was to the view request (its view is adopted). */
  onReply(requestId: number, body: unknown): boolean {
    if (requestId !== this.viewRequest) return false;
    const fetched = (body as { view?: ClusterView }).view;
    if (fetched) this.adopt(fetched);
    return true;
  }

  /** Whether a failure was the view request's: nothing works without a view, so it is asked again. */
  onFailure(requestId: number): boolean {
    if (requestId !== this.viewRequest) return false;
    if (!this.view_) this.refresh();
    return true;
  }
}
