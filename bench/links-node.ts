import net from 'node:net';
import { ActorRuntime } from '../src/actors/runtime.js';
import { address } from '../src/actors/address.js';
import { silentLogger } from '../src/log.js';
import { linkNodes } from '../src/transport/node-links.js';

/**
 * One side of `npm run bench -- links` (a child process): `b` runs an actor that answers every
 * request at once; `a` asks it from its main thread at a fixed depth and prints what it measured.
 * The raw modes do the same exchange with 8-byte heads on a plain socket: the floor.
 */
const [role, mode, portText, depthText, secondsText, bytesText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const depth = Number(depthText);
const seconds = Number(secondsText);
const blockBytes = Number(bytesText);

async function linked(): Promise<void> {
  const log = silentLogger();
  const runtime = await ActorRuntime.start({ node: role, threads: 0, log });
  const { links, port } = await linkNodes(runtime, { cluster: 'bench', log, listen: { host: '127.0.0.1', port: 0 } });
  if (role === 'b') {
    runtime.spawnLocal('echo', (context) => ({
      receive(incoming) {
        if (incoming.kind === 'request') context.reply(incoming, { ok: true });
      },
    }));
    console.log(String(port));
    return;
  }
  links.addPeer('b', '127.0.0.1', Number(portText));
  while (!links.isUp('b')) await new Promise((resolve) => setTimeout(resolve, 10));
  const target = address('b', 'echo');
  let done = 0;
  let stopping = false;
  const started = { cpu: process.cpuUsage(), at: performance.now() };
  runtime.spawnLocal('asker', (context) => {
    const ask = async (): Promise<void> => {
      const lease = await runtime.pool.lease(blockBytes);
      const body =
        mode === 'read'
          ? { op: 'read', gmap: 1, epoch: 0, block: done, count: blockBytes / 4096, handle: lease.handle }
          : { op: 'write', gmap: 1, epoch: 0, block: done, count: blockBytes / 4096, handle: lease.handle, fua: false };
      leases.set(context.request(target, body, 10_000), lease.handle);
    };
    const leases = new Map<number, import('../src/actors/buffer-pool.js').BufferHandle>();
    setTimeout(() => {
      for (let i = 0; i < depth; i++) void ask();
    }, 0);
    return {
      receive(incoming) {
        if (incoming.kind !== 'reply' && incoming.kind !== 'failure') return;
        runtime.pool.release(leases.get(incoming.requestId)!);
        leases.delete(incoming.requestId);
        done += 1;
        if (!stopping) void ask();
      },
    };
  });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stopping = true;
  const cpu = process.cpuUsage(started.cpu);
  const elapsed = (performance.now() - started.at) / 1000;
  console.log(JSON.stringify({ perSecond: done / elapsed, cpuUs: (cpu.user + cpu.system) / done }));
  process.exit(0);
}

/**
 * A socket's data handler that calls `onMessage(id)` for each whole message (an 8-byte head of
 * length and id, then the payload), joining chunks only once a message is whole (a held buffer
 * grown chunk by chunk would copy a 1 MiB payload sixteen times).
 */
function framed(onMessage: (id: number) => void): (chunk: Buffer) => void {
  let chunks: Buffer[] = [];
  let held = 0;
  let needed = 8;
  return (chunk) => {
    chunks.push(chunk);
    held += chunk.length;
    if (held < needed) return;
    let joined = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
    while (joined.length >= 8 && joined.length >= 8 + joined.readUInt32LE(0)) {
      onMessage(joined.readUInt32LE(4));
      joined = joined.subarray(8 + joined.readUInt32LE(0));
    }
    chunks = joined.length > 0 ? [joined] : [];
    held = joined.length;
    needed = held >= 8 ? 8 + joined.readUInt32LE(0) : 8;
  };
}

/** The floor: 8-byte heads (length, id) and the payload one way, on a plain socket. */
function raw(): void {
  const payloadOut = mode === 'raw-write';
  if (role === 'b') {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      socket.on(
        'data',
        framed((id) => {
          const reply = Buffer.allocUnsafe(payloadOut ? 8 : 8 + blockBytes);
          reply.writeUInt32LE(payloadOut ? 0 : blockBytes, 0);
          reply.writeUInt32LE(id, 4);
          socket.write(reply);
        }),
      );
    });
    server.listen(0, '127.0.0.1', () => console.log(String((server.address() as net.AddressInfo).port)));
    return;
  }
  const socket = net.connect(Number(portText), '127.0.0.1');
  socket.setNoDelay(true);
  const payload = Buffer.alloc(blockBytes, 7);
  let done = 0;
  let id = 0;
  const send = (): void => {
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(payloadOut ? blockBytes : 0, 0);
    head.writeUInt32LE(id++, 4);
    socket.write(payloadOut ? Buffer.concat([head, payload]) : head);
  };
  const started = { cpu: process.cpuUsage(), at: performance.now() };
  socket.on('connect', () => {
    for (let i = 0; i < depth; i++) send();
  });
  socket.on(
    'data',
    framed(() => {
      done += 1;
      send();
    }),
  );
  setTimeout(() => {
    const cpu = process.cpuUsage(started.cpu);
    const elapsed = (performance.now() - started.at) / 1000;
    console.log(JSON.stringify({ perSecond: done / elapsed, cpuUs: (cpu.user + cpu.system) / done }));
    process.exit(0);
  }, seconds * 1000);
}

if (mode.startsWith('raw')) raw();
else void linked();
