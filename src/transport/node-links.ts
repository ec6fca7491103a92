import net from 'node:net';
import tls from 'node:tls';
import type { BufferHandle, BufferPool } from '../actors/buffer-pool.js';
import type { ActorRuntime } from '../actors/runtime.js';
import type { Envelope } from '../actors/envelope.js';
import type { WhorlErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { frameTypes, type FrameStart } from './frame.js';
import { holdsHandle, putHandles, takeHandles } from './handles.js';
import { PeerLink, type Hello } from './peer-link.js';

export interface NodeLinksOptions {
  readonly node: string;
  readonly cluster: string;
  readonly pool: BufferPool;
  readonly log: Logger;
  /** Hands an envelope that arrived from another node to this node's actors. */
  readonly deliver: (envelope: Envelope) => void;
  /**
   * Whether a request's buffers are filled by the receiver (a read) rather than read by it: then
   * the request carries only their sizes and the reply carries their bytes.
   */
  readonly fills?: (body: unknown) => boolean;
  /** Bytes of requests from one peer held in this node's buffers before its link stops reading. */
  readonly inFlightBytesMax?: number;
  readonly backoffMs?: { readonly first: number; readonly max: number };
  /**
   * X.509 credentials (key, cert, ca): every link is TLS, and each side must show a certificate
   * the CA signed (mutual verification; names are checked by the links' hello, not the
   * certificate's host name, since nodes dial addresses). Without them links are plain TCP.
   */
  readonly tls?: tls.SecureContextOptions;
}

interface Peer {
  address?: { host: string; port: number };
  link?: PeerLink;
  /** Buffers of this peer's requests handed to actors and not answered yet (half-read frames not counted). */
  heldBytes: number;
  backoffMs: number;
  redial?: NodeJS.Timeout;
}

/** A request sent to another node, until its reply: where the reply's payloads go. */
interface Sent {
  readonly node: string;
  readonly handles: readonly BufferHandle[];
  readonly fill: boolean;
}

/** A request received from another node, until this node answers it: the buffers it lent. */
interface Received {
  readonly node: string;
  readonly leases: readonly BufferHandle[];
  readonly fill: boolean;
  readonly bytes: number;
  /** No buffers were free for it: it is answered WHORL_POOL_EXHAUSTED (the caller may retry). */
  readonly exhausted?: boolean;
  /** Its frame is whole and its actor has it (until then a lost link takes the buffers back). */
  delivered?: boolean;
}

type RequestEnvelope = Extract<Envelope, { kind: 'request' }>;
const inFlightBytesDefault = 64 * 1024 * 1024;
const noFills = (): boolean => false;

/**
 * This node's connections to the others: one TCP connection per pair of nodes (the node whose
 * name sorts first dials, and dials again with backoff after a loss), carrying envelopes for any
 * actor of either node. Actors address remote actors as local ones, by {node, actor}; the runtime
 * hands every envelope for another node to `send`, and `deliver` takes the ones that arrive.
 *
 * Buffer handles travel as frame payloads (frame.ts). A request's buffers are lent: the receiver
 * leases buffers of its own pool, reads the bytes straight into them, and releases them when its
 * actor answers (a read's reply carries the filled bytes back into the requester's buffers). A
 * peer whose unanswered requests hold more than `inFlightBytesMax` of this node's buffers is not
 * read from until they drain (TCP then holds back its sender). When a link is lost, requests
 * awaiting replies over it fail at once with WHORL_UNREACHABLE, so callers retry elsewhere rather
 * than wait for their timeouts.
 */
export class NodeLinks {
  private readonly peers = new Map<string, Peer>();
  private readonly sent = new Map<string, Sent>();
  private readonly received = new Map<string, Received>();
  private readonly accepted = new Set<PeerLink>();
  private server: net.Server | undefined;
  private closing = false;
  private answerAtOnce: (request: RequestEnvelope) => unknown = () => undefined;
  private readonly inFlightBytesMax: number;
  private readonly backoff: { readonly first: number; readonly max: number };
  private readonly fills: (body: unknown) => boolean;
  private readonly self: Hello;

  constructor(private readonly options: NodeLinksOptions) {
    this.inFlightBytesMax = options.inFlightBytesMax ?? inFlightBytesDefault;
    this.backoff = options.backoffMs ?? { first: 50, max: 2_000 };
    this.fills = options.fills ?? noFills;
    this.self = { node: options.node, cluster: options.cluster };
  }

  /** Accepts connections from other nodes on host:port (port 0: any); resolves with the port bound. */
  async listen(host: string, port: number): Promise<number> {
    const accept = (socket: net.Socket): void => {
      const link = new PeerLink(socket, this.self, this.handlers);
      this.accepted.add(link);
    };
    const credentials = this.options.tls;
    const server = credentials
      ? tls.createServer({ ...credentials, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, accept)
      : net.createServer(accept);
    server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) =>
      this.options.log.warn({ peer: socket.remoteAddress, reason: error.message }, 'peer link refused: TLS'),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    server.on('error', (error) => this.options.log.error({ err: error }, 'peer listener failed'));
    return (server.address() as net.AddressInfo).port;
  }

  /** Where `node` accepts connections; the node whose name sorts first dials. */
  addPeer(node: string, host: string, port: number): void {
    if (node === this.options.node) return;
    const peer = this.peerOf(node);
    peer.address = { host, port };
    if (this.dials(node) && !peer.link && !peer.redial) this.dial(node, peer);
  }

  /** Forgets `node` (it left the cluster): its link closes and is not dialled again. */
  removePeer(node: string): void {
    const peer = this.peers.get(node);
    if (!peer) return;
    this.peers.delete(node);
    clearTimeout(peer.redial);
    peer.link?.close(undefined);
  }

  /**
   * Requests this node answers on its main thread as they arrive, without handing them to their
   * actor: `answer` returns the reply's body (a read of a local disk's files, into the lent
   * buffers), or undefined to deliver the request as usual.
   */
  answerAtOnceWith(answer: (request: RequestEnvelope) => unknown): void {
    this.answerAtOnce = answer;
  }

  isUp(node: string): boolean {
    return this.peers.get(node)?.link !== undefined;
  }

  /** Requests answered by this node's actors while their buffers are lent (for tests and metrics). */
  get lentBuffers(): number {
    return this.received.size;
  }

  send(envelope: Envelope): void {
    const link = this.peers.get(envelope.to.node)?.link;
    if (!link) return this.undeliverable(envelope, `node ${envelope.to.node} is not connected`);
    if (envelope.kind === 'request') return this.sendRequest(link, envelope);
    if (envelope.kind === 'tell') {
      if (holdsHandle(envelope.body)) {
        this.options.log.error({ to: envelope.to }, 'a tell carrying buffers cannot go to another node; dropped');
        return;
      }
      return link.write(frameTypes.envelope, [envelope, []], [], []);
    }
    this.sendAnswer(link, envelope);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const peer of this.peers.values()) {
      clearTimeout(peer.redial);
      peer.link?.close(undefined);
    }
    for (const link of this.accepted) link.close(undefined);
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private sendRequest(link: PeerLink, envelope: Extract<Envelope, { kind: 'request' }>): void {
    const { body, handles } = takeHandles(envelope.body);
    const fill = handles.length > 0 && this.fills(envelope.body);
    const sizes = handles.map((handle) => handle.lengthBytes);
    let payloads: Buffer[] = [];
    try {
      payloads = fill ? [] : handles.map((handle) => this.options.pool.view(handle));
    } catch (error) {
      return this.failLocally(envelope, 'WHORL_STALE_HANDLE', (error as Error).message);
    }
    if (handles.length > 0)
      this.sent.set(sentKey(envelope.from.actor, envelope.requestId), { node: envelope.to.node, handles, fill });
    const lengths = fill ? sizes.map(() => 0) : sizes;
    link.write(frameTypes.envelope, [{ ...envelope, body }, sizes], payloads, lengths);
  }

  /** A reply or failure to a request from another node: the lent buffers go back with it. */
  private sendAnswer(link: PeerLink, envelope: Extract<Envelope, { kind: 'reply' | 'failure' }>): void {
    const key = receivedKey(envelope.to.node, envelope.to.actor, envelope.requestId);
    const lent = this.received.get(key);
    this.received.delete(key);
    let answer: Envelope = envelope;
    if (envelope.kind === 'reply' && holdsHandle(envelope.body)) {
      answer = { ...envelope, kind: 'failure', code: 'WHORL_NOT_SUPPORTED', reason: 'a reply carrying buffers' };
    }
    const back = lent?.fill && answer.kind === 'reply' ? lent.leases.map((lease) => this.options.pool.view(lease)) : [];
    const release = lent ? () => this.giveBack(lent) : undefined;
    link.write(
      frameTypes.envelope,
      [answer, []],
      back,
      back.map((bytes) => bytes.length),
      release,
    );
  }

  private giveBack(lent: Received): void {
    for (const lease of lent.leases) this.options.pool.release(lease);
    const peer = this.peers.get(lent.node);
    if (!peer) return;
    peer.heldBytes -= lent.bytes;
    if (peer.link?.socket.isPaused() && peer.heldBytes <= this.inFlightBytesMax / 2) peer.link.socket.resume();
  }

  private readonly handlers = {
    hello: (link: PeerLink, hello: Hello) => this.onHello(link, hello),
    start: (link: PeerLink, frame: FrameStart) => this.onStart(link, frame),
    end: (link: PeerLink, frame: FrameStart) => this.onEnd(link, frame),
    closed: (link: PeerLink, reason: string | undefined) => this.onClosed(link, reason),
  };

  private onHello(link: PeerLink, hello: Hello): void {
    if (hello.cluster !== this.self.cluster) {
      this.options.log.error({ peer: hello }, `a node of cluster ${hello.cluster} connected; refused`);
      return link.close(`cluster ${hello.cluster} is not ${this.self.cluster}`);
    }
    if (hello.node === this.self.node) return link.close('a node with this node name');
    const peer = this.peerOf(hello.node);
    if (peer.link && peer.link !== link) peer.link.close('replaced by a newer connection');
    peer.link = link;
    peer.backoffMs = this.backoff.first;
    this.options.log.info({ peer: hello.node }, 'peer link up');
  }

  /** Per frame: which buffers its payloads are read into (frame.ts). */
  private onStart(link: PeerLink, frame: FrameStart): Uint8Array[] {
    const [envelope, sizes] = parseMeta(frame.meta);
    const node = link.peer!.node;
    if (envelope.kind === 'request' && sizes.length > 0) return this.lend(link, frame, envelope, sizes);
    if (envelope.kind === 'reply' || envelope.kind === 'failure') {
      const sent = this.sent.get(sentKey(envelope.to.actor, envelope.requestId));
      if (sent?.node === node && frame.payloadLengths.length > 0) {
        if (frame.payloadLengths.length !== sent.handles.length) throw new Error('a reply with the wrong payloads');
        return sent.handles.map((handle, i) => this.viewOr(handle, frame.payloadLengths[i]!));
      }
    }
    return frame.payloadLengths.map((length) => Buffer.allocUnsafe(length));
  }

  /** Leases this node's buffers for a request's payloads (read into them as they arrive). */
  private lend(
    link: PeerLink,
    frame: FrameStart,
    envelope: Extract<Envelope, { kind: 'request' }>,
    sizes: readonly number[],
  ): Uint8Array[] {
    if (frame.payloadLengths.some((length, i) => length !== 0 && length !== sizes[i]))
      throw new Error('payload lengths differ from the sizes of their buffers');
    const leases = [];
    for (const size of sizes) {
      const lease = this.options.pool.tryLease(size);
      if (!lease) break;
      leases.push(lease);
    }
    const node = link.peer!.node;
    const key = receivedKey(node, envelope.from.actor, envelope.requestId);
    const fill = frame.payloadLengths.every((length) => length === 0);
    const bytes = sizes.reduce((sum, size) => sum + size, 0);
    if (leases.length < sizes.length) {
      for (const lease of leases) this.options.pool.release(lease.handle);
      this.received.set(key, { node, leases: [], fill: false, bytes: 0, exhausted: true });
      return frame.payloadLengths.map((length) => Buffer.allocUnsafe(length));
    }
    this.received.set(key, { node, leases: leases.map((lease) => lease.handle), fill, bytes });
    return leases.map((lease, i) => (frame.payloadLengths[i] === 0 ? new Uint8Array(0) : lease.bytes));
  }

  private onEnd(link: PeerLink, frame: FrameStart): void {
    const [envelope] = parseMeta(frame.meta);
    const node = link.peer!.node;
    if (envelope.to.node !== this.self.node || envelope.from.node !== node)
      throw new Error(`an envelope from ${envelope.from.node} to ${envelope.to.node} on the link from ${node}`);
    if (envelope.kind === 'request') {
      const key = receivedKey(node, envelope.from.actor, envelope.requestId);
      const lent = this.received.get(key);
      if (lent?.exhausted) {
        this.received.delete(key);
        return this.answerRemotely(
          link,
          envelope,
          'WHORL_POOL_EXHAUSTED',
          `node ${this.self.node} has no buffers free`,
        );
      }
      let body = envelope.body;
      try {
        if (lent) body = putHandles(envelope.body, lent.leases);
      } catch (error) {
        this.received.delete(key);
        for (const lease of lent!.leases) this.options.pool.release(lease);
        throw error;
      }
      const request = { ...envelope, body };
      const answered = this.answerAtOnce(request);
      if (answered !== undefined) {
        const { from, to, requestId } = envelope;
        return this.sendAnswer(link, { kind: 'reply', from: to, to: from, requestId, body: answered });
      }
      this.options.deliver(request);
      // Reading stops between frames only, counting whole requests: a half-read frame is never answered.
      const peer = this.peerOf(node);
      if (lent) lent.delivered = true;
      peer.heldBytes += lent?.bytes ?? 0;
      if (peer.heldBytes > this.inFlightBytesMax) link.socket.pause();
      return;
    }
    if (envelope.kind === 'reply' || envelope.kind === 'failure') {
      const key = sentKey(envelope.to.actor, envelope.requestId);
      if (this.sent.get(key)?.node === node) this.sent.delete(key);
    }
    this.options.deliver(envelope);
  }

  private onClosed(link: PeerLink, reason: string | undefined): void {
    this.accepted.delete(link);
    const node = link.peer?.node;
    const peer = node === undefined ? undefined : this.peers.get(node);
    if (!peer || peer.link !== link || node === undefined) return;
    peer.link = undefined;
    this.options.log.warn({ peer: node, reason }, 'peer link lost');
    for (const [key, lent] of this.received) {
      if (lent.node !== node || lent.delivered) continue;
      this.received.delete(key);
      for (const lease of lent.leases) this.options.pool.release(lease);
    }
    for (const [key, sent] of this.sent) {
      if (sent.node !== node) continue;
      this.sent.delete(key);
      const [actor, requestId] = splitSentKey(key);
      this.options.deliver({
        kind: 'failure',
        from: { node, actor: '' },
        to: { node: this.self.node, actor },
        requestId,
        code: 'WHORL_UNREACHABLE',
        reason: `the link to node ${node} was lost`,
      });
    }
    if (!this.closing && this.dials(node) && peer.address) this.scheduleDial(node, peer);
  }

  private dial(node: string, peer: Peer): void {
    const address = peer.address;
    if (!address || this.closing) return;
    const credentials = this.options.tls;
    const socket = credentials
      ? tls.connect({ ...credentials, host: address.host, port: address.port, checkServerIdentity: () => undefined })
      : net.connect(address.port, address.host);
    const link = new PeerLink(socket, this.self, this.handlers);
    // Until its hello arrives the link is not the peer's; a failure to connect schedules another try.
    socket.once(credentials ? 'secureConnect' : 'connect', () => {
      if (this.peers.get(node) !== peer) link.close(undefined);
    });
    if (credentials) {
      // Reached, then refused in the handshake (not merely down): the operator's to see.
      let reached = false;
      let secured = false;
      socket.once('connect', () => (reached = true));
      socket.once('secureConnect', () => (secured = true));
      socket.once('error', (error) => {
        if (reached && !secured) this.options.log.warn({ peer: node, reason: error.message }, 'peer link refused: TLS');
      });
    }
    socket.once('close', () => {
      if (!link.peer && this.peers.get(node) === peer && !this.closing) this.scheduleDial(node, peer);
    });
    this.accepted.add(link);
  }

  private scheduleDial(node: string, peer: Peer): void {
    if (peer.redial) return;
    const delay = peer.backoffMs;
    peer.backoffMs = Math.min(peer.backoffMs * 2, this.backoff.max);
    peer.redial = setTimeout(() => {
      peer.redial = undefined;
      if (!peer.link && this.peers.get(node) === peer) this.dial(node, peer);
    }, delay);
  }

  private dials(node: string): boolean {
    return this.self.node < node;
  }

  private peerOf(node: string): Peer {
    let peer = this.peers.get(node);
    if (!peer) {
      peer = { heldBytes: 0, backoffMs: this.backoff.first };
      this.peers.set(node, peer);
    }
    return peer;
  }

  /** A handle's bytes, or a throwaway buffer when its requester has since let it go. */
  private viewOr(handle: BufferHandle, length: number): Uint8Array {
    try {
      const bytes = this.options.pool.view(handle);
      return bytes.length === length ? bytes : Buffer.allocUnsafe(length);
    } catch {
      return Buffer.allocUnsafe(length);
    }
  }

  private undeliverable(envelope: Envelope, reason: string): void {
    if (envelope.kind === 'request') return this.failLocally(envelope, 'WHORL_UNREACHABLE', reason);
    if (envelope.kind === 'reply' || envelope.kind === 'failure') {
      const key = receivedKey(envelope.to.node, envelope.to.actor, envelope.requestId);
      const lent = this.received.get(key);
      this.received.delete(key);
      if (lent) this.giveBack(lent);
    }
  }

  private failLocally(envelope: Extract<Envelope, { kind: 'request' }>, code: WhorlErrorCode, reason: string): void {
    this.options.deliver({
      kind: 'failure',
      from: envelope.to,
      to: envelope.from,
      requestId: envelope.requestId,
      code,
      reason,
    });
  }

  private answerRemotely(
    link: PeerLink,
    request: Extract<Envelope, { kind: 'request' }>,
    code: WhorlErrorCode,
    reason: string,
  ): void {
    const failure: Envelope = {
      kind: 'failure',
      from: request.to,
      to: request.from,
      requestId: request.requestId,
      code,
      reason,
    };
    link.write(frameTypes.envelope, [failure, []], [], []);
  }
}

function sentKey(actor: string, requestId: number): string {
  return `${requestId}#${actor}`;
}

function splitSentKey(key: string): [string, number] {
  const at = key.indexOf('#');
  return [key.slice(at + 1), Number(key.slice(0, at))];
}

function receivedKey(node: string, actor: string, requestId: number): string {
  return `${node}/${actor}#${requestId}`;
}

/** An envelope frame's meta: [envelope with placeholders, sizes of its buffers]; throws when malformed. */
function parseMeta(meta: unknown): [Envelope, number[]] {
  if (!Array.isArray(meta) || meta.length !== 2) throw new Error('envelope meta is not [envelope, sizes]');
  const [envelope, sizes] = meta as [Envelope, unknown];
  const kinds = ['tell', 'request', 'reply', 'failure'];
  if (envelope === null || typeof envelope !== 'object' || !kinds.includes(envelope.kind))
    throw new Error('malformed envelope');
  if (typeof envelope.to?.node !== 'string' || typeof envelope.to.actor !== 'string')
    throw new Error('envelope without a destination');
  if (typeof envelope.from?.node !== 'string' || typeof envelope.from.actor !== 'string')
    throw new Error('envelope without a sender');
  if (envelope.kind !== 'tell' && !Number.isInteger(envelope.requestId))
    throw new Error('envelope without a request id');
  if (!Array.isArray(sizes) || sizes.some((size) => !Number.isInteger(size) || size < 0 || size > 32 * 1024 * 1024))
    throw new Error('malformed buffer sizes');
  return [envelope, sizes as number[]];
}

/** Requests whose buffers the receiver fills: reads (of a disk, a server or a group). */
export function fillsBuffers(body: unknown): boolean {
  return (body as { op?: unknown } | null)?.op === 'read';
}

/** Node links for `runtime`'s actors: started listening, and connected to the runtime both ways. */
export async function linkNodes(
  runtime: ActorRuntime,
  options: Omit<NodeLinksOptions, 'node' | 'pool' | 'deliver'> & { listen: { host: string; port: number } },
): Promise<{ links: NodeLinks; port: number }> {
  const links = new NodeLinks({
    ...options,
    node: runtime.node,
    pool: runtime.pool,
    fills: options.fills ?? fillsBuffers,
    deliver: (envelope) => runtime.deliver(envelope),
  });
  const port = await links.listen(options.listen.host, options.listen.port);
  runtime.connectNodes((envelope) => links.send(envelope));
  return { links, port };
}
