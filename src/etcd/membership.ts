import type { Etcd3, Lease, Watcher } from 'etcd3';
import { WhorlError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkReachable, etcdClient } from './connect.js';

/**
 * A node's place in a multi-host cluster, in etcd under the prefix (default /whorl):
 *
 *   | key                 | value                                      | written                          |
 *   |---------------------|--------------------------------------------|----------------------------------|
 *   | PREFIX/cluster      | {id, createdAt}                            | once, by the first node          |
 *   | PREFIX/nodes/NAME   | {node, peer, pid, startedAt, isolated?}    | on the node's lease, if absent   |
 *   | PREFIX/monitor      | the node that runs the control actor       | on its lease, only if absent     |
 *   | PREFIX/state/ACTOR/ | that actor's storage (etcd-storage.ts)     | fenced by PREFIX/monitor         |
 *
 * `peer` is "host:port"; `isolated` is rewritten by the node itself (cluster/reach.ts).
 *
 * A node's key lives on its lease: while the node renews it, no other process can take the name;
 * peers treat the node as gone only when the key is gone (the lease expired or was revoked).
 * Keepalives go over a gRPC connection of their own, so bulk traffic cannot starve them.
 *
 * The node keeps its own clock: it *holds* its lease until (time the last acknowledged keepalive
 * was sent) + TTL − margin. etcd cannot expire the lease before that, so a node that stops
 * acting as primary when it stops holding never acts after its peers think it gone. The `etcd3`
 * client reports a lost lease only after twice the TTL; this does not wait for that.
 */
export interface NodeRecord {
  readonly node: string;
  readonly peer: string;
  readonly pid: number;
  readonly startedAt: string;
  /** The node reaches too few peers to coordinate (cluster/reach.ts): placement puts nothing on it. */
  readonly isolated?: boolean;
}

export interface MembershipOptions {
  readonly urls: readonly string[];
  readonly prefix: string;
  readonly node: string;
  /** Where this node accepts peer connections, host:port. */
  readonly peer: string;
  readonly log: Logger;
  readonly ttlSeconds?: number;
}

const ttlSecondsDefault = 5;
const nodeNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export class Membership {
  private readonly members = new Map<string, NodeRecord>();
  private readonly listeners: Array<(nodes: ReadonlyMap<string, NodeRecord>) => void> = [];
  private readonly lostListeners: Array<() => void> = [];
  private readonly regainedListeners: Array<() => void> = [];
  private readonly goneListeners: Array<(reason: string) => void> = [];
  private holdsUntil: number;
  private lastFiredAt: number;
  private expiry: NodeJS.Timeout | undefined;
  private watcher: Watcher | undefined;
  private left = false;
  private lost = false;
  private gonePermanently = false;
  private record: NodeRecord | undefined;
  private createdRevision = 0;

  private constructor(
    private readonly options: MembershipOptions,
    private readonly client: Etcd3,
    private readonly leaseClient: Etcd3,
    private readonly lease: Lease,
    grantedAt: number,
    private readonly ttlMs: number,
  ) {
    this.lastFiredAt = grantedAt;
    this.holdsUntil = grantedAt + ttlMs - marginMs(ttlMs);
    lease.on('keepaliveFired', () => (this.lastFiredAt = Date.now()));
    lease.on('keepaliveSucceeded', () => this.renewed(this.lastFiredAt));
    lease.on('lost', (error) => this.gone(`etcd says the lease is lost: ${error.message}`));
    this.armExpiry();
  }

  /**
   * Joins the cluster under `prefix` as `node` (creating the cluster record when this is the first
   * node). Throws a one-line WhorlError: WHORL_BAD_ARGUMENT for a bad name or a name another live
   * process holds, WHORL_UNREACHABLE when etcd does not answer.
   */
  static async join(options: MembershipOptions): Promise<Membership> {
    if (!nodeNamePattern.test(options.node))
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `--node ${JSON.stringify(options.node)}: a node name is 1–63 letters, digits, '.', '_' or '-'`,
      );
    const client = etcdClient(options.urls);
    const leaseClient = etcdClient(options.urls, true);
    try {
      await checkReachable(client, options.urls);
      const ttlSeconds = options.ttlSeconds ?? ttlSecondsDefault;
      const sentAt = Date.now();
      const lease = leaseClient.lease(ttlSeconds);
      await lease.grant();
      const membership = new Membership(options, client, leaseClient, lease, sentAt, ttlSeconds * 1000);
      try {
        await membership.claim();
        await membership.watchNodes();
      } catch (error) {
        await membership.leave();
        throw error;
      }
      return membership;
    } catch (error) {
      client.close();
      leaseClient.close();
      throw error;
    }
  }

  get node(): string {
    return this.options.node;
  }

  /**
   * The first incarnation of this process's servers: above every earlier process's of any node (the
   * etcd revision that created this node's key, times 1000: room for a thousand restarts of an actor
   * within the process). Peers and the control actor then see a node that restarted as servers with
   * a new incarnation, whose unflushed writes may be lost, as on one host.
   */
  get incarnation(): number {
    return this.createdRevision * 1000;
  }

  /** The client for everything but keepalives (which have a connection of their own). */
  get etcd(): Etcd3 {
    return this.client;
  }

  /** Whether this node may still act for the cluster by its own clock (see the file's comment). */
  get holding(): boolean {
    return !this.left && !this.lost && !this.gonePermanently && Date.now() < this.holdsUntil;
  }

  /** The nodes whose keys exist (this one included), by name. */
  get nodes(): ReadonlyMap<string, NodeRecord> {
    return this.members;
  }

  /** Called with every node set after a change (a node came or went). */
  onChange(listener: (nodes: ReadonlyMap<string, NodeRecord>) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Called when this node stops holding its lease by its own clock (no keepalive acknowledged in
   * time: etcd is slow, down or cut off). It must stop acting as a primary; it may hold the lease
   * again (`onRegained`) when etcd acknowledges a keepalive of the same lease.
   */
  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  /** Called when etcd acknowledges a keepalive again after `onLost`: the lease (and key) never went. */
  onRegained(listener: () => void): void {
    this.regainedListeners.push(listener);
  }

  /** Called when the lease is gone for good (etcd said so): the node must leave and join anew. */
  onGone(listener: (reason: string) => void): void {
    this.goneListeners.push(listener);
  }

  /** Leaves the cluster: the lease is revoked (its key goes at once) and the clients close. */
  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    clearTimeout(this.expiry);
    await this.watcher?.cancel().catch(() => undefined);
    await this.lease.revoke().catch(() => undefined);
    this.client.close();
    this.leaseClient.close();
  }

  /**
   * Takes the monitor role (the node that runs the cluster's control actor) if no live node holds
   * it: the key's create revision, which fences the control state's writes (etcd-storage.ts), or
   * undefined while another node holds it.
   */
  async claimMonitor(): Promise<{ key: string; createRevision: string } | undefined> {
    const key = `${this.options.prefix}/monitor`;
    const result = await this.client
      .if(key, 'Create', '==', 0)
      .then(this.lease.put(key).value(this.options.node))
      .else(this.client.get(key))
      .commit();
    if (result.succeeded) return { key, createRevision: String(result.header.revision) };
    const holder = result.responses[0]?.response_range?.kvs[0];
    if (holder?.value.toString() !== this.options.node || String(holder.lease) !== String(await this.lease.grant()))
      return undefined;
    return { key, createRevision: String(holder.create_revision) };
  }

  /**
   * Says in this node's record whether it is isolated (cluster/reach.ts). The record is rewritten
   * on the same lease, only while this lease still holds the key.
   */
  async setIsolated(isolated: boolean): Promise<void> {
    const record: NodeRecord = { ...this.record!, isolated };
    const key = this.key(this.options.node);
    const lease = await this.lease.grant();
    const result = await this.client
      .if(key, 'Lease', '==', lease)
      .then(this.lease.put(key).value(JSON.stringify(record)))
      .commit();
    if (result.succeeded) this.record = record;
  }

  /** Gives up the monitor role if this node holds it (its key goes; another node may claim it). */
  async releaseMonitor(): Promise<void> {
    const key = `${this.options.prefix}/monitor`;
    const lease = await this.lease.grant();
    await this.client.if(key, 'Lease', '==', lease).then(this.client.delete().key(key)).commit();
  }

  private key(node: string): string {
    return `${this.options.prefix}/nodes/${node}`;
  }

  private async claim(): Promise<void> {
    const { prefix, node, peer } = this.options;
    const cluster = JSON.stringify({ id: `${Date.now().toString(36)}`, createdAt: new Date().toISOString() });
    await this.client
      .if(`${prefix}/cluster`, 'Create', '==', 0)
      .then(this.client.put(`${prefix}/cluster`).value(cluster))
      .commit();
    const record: NodeRecord = { node, peer, pid: process.pid, startedAt: new Date().toISOString() };
    this.record = record;
    const result = await this.client
      .if(this.key(node), 'Create', '==', 0)
      .then(this.lease.put(this.key(node)).value(JSON.stringify(record)))
      .else(this.client.get(this.key(node)))
      .commit();
    if (result.succeeded) {
      this.createdRevision = Number(result.header.revision);
      return;
    }
    const holder = parseRecord(result.responses[0]?.response_range?.kvs[0]?.value?.toString());
    const where = holder ? ` (peer ${holder.peer}, pid ${holder.pid}, since ${holder.startedAt})` : '';
    throw new WhorlError(
      'WHORL_BAD_ARGUMENT',
      `node name ${node} is taken: another whorl process is running as it${where}; node names are unique`,
    );
  }

  /** Loads the node set and follows it from the revision loaded (a watch resumes from there). */
  private async watchNodes(): Promise<void> {
    const from = `${this.options.prefix}/nodes/`;
    const loaded = await this.client.getAll().prefix(from).exec();
    for (const kv of loaded.kvs) {
      const record = parseRecord(kv.value.toString());
      if (record) this.members.set(record.node, record);
    }
    const revision = BigInt(loaded.header.revision) + 1n;
    const watcher = await this.client.watch().prefix(from).startRevision(revision.toString()).create();
    this.watcher = watcher;
    watcher.on('put', (kv) => {
      const record = parseRecord(kv.value.toString());
      if (record) this.changed(() => this.members.set(record.node, record));
    });
    watcher.on('delete', (kv) => {
      const node = kv.key.toString().slice(from.length);
      this.changed(() => this.members.delete(node));
    });
    watcher.on('error', (error) => this.options.log.warn({ err: error }, 'watch of the node set failed'));
    this.changed(() => undefined);
  }

  private changed(change: () => void): void {
    change();
    for (const listener of this.listeners) listener(this.members);
  }

  private renewed(sentAt: number): void {
    if (this.left || this.gonePermanently) return;
    this.holdsUntil = Math.max(this.holdsUntil, sentAt + this.ttlMs - marginMs(this.ttlMs));
    if (this.lost && Date.now() < this.holdsUntil) {
      this.lost = false;
      this.options.log.warn({ node: this.options.node }, 'this node holds its lease again');
      for (const listener of this.regainedListeners) listener();
    }
    this.armExpiry();
  }

  private gone(reason: string): void {
    if (this.left || this.gonePermanently) return;
    this.gonePermanently = true;
    this.expire(reason, true);
    for (const listener of this.goneListeners) listener(reason);
  }

  private armExpiry(): void {
    clearTimeout(this.expiry);
    const wait = this.holdsUntil - Date.now();
    this.expiry = setTimeout(
      () => this.expire('no keepalive acknowledged in time (own clock)', false),
      Math.max(0, wait),
    );
  }

  /** Stops holding (until `renewed` by etcd, unless it said the lease is gone); `fromEtcd`: etcd said so. */
  private expire(reason: string, fromEtcd: boolean): void {
    if (this.left || this.lost) return;
    if (!fromEtcd && Date.now() < this.holdsUntil) return this.armExpiry();
    this.lost = true;
    this.options.log.error({ node: this.options.node, reason }, 'this node no longer holds its lease');
    for (const listener of this.lostListeners) listener();
  }
}

/** A fifth of the TTL, at least 500 ms: room for clock rate differences and a late timer. */
function marginMs(ttlMs: number): number {
  return Math.max(500, ttlMs / 5);
}

function parseRecord(value: string | undefined): NodeRecord | undefined {
  if (value === undefined) return undefined;
  try {
    const record = JSON.parse(value) as Partial<NodeRecord>;
    if (typeof record.node !== 'string' || typeof record.peer !== 'string') return undefined;
    return record as NodeRecord;
  } catch {
    return undefined;
  }
}
