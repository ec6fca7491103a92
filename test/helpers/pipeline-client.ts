import { RawClient } from './raw-client.js';
import { Command, REQUEST_MAGIC, SIMPLE_REPLY_MAGIC } from '../../src/nbd/protocol.js';

const replyHeadBytes = 16;
const requestHeadBytes = 28;
/** Requests written to the socket in one call. */
const batch = 256;

export interface PipelineRun {
  readonly seconds: number;
  readonly answered: number;
}

/**
 * A client that pipelines as hard as the socket lets it: it writes READ (or WRITE) requests of
 * `lengthBytes` over the first `spanBytes` of export 'default' in batches, as long as the socket
 * takes them, and reads replies only as they arrive between its writes (the pattern of an NBD
 * client with one thread and no bound of its own). Fails on a reply that is not a clean simple
 * reply.
 */
export async function pipelineReads(
  port: number,
  count: number,
  lengthBytes: number,
  spanBytes: number,
  op: 'read' | 'write' = 'read',
): Promise<PipelineRun> {
  const client = await RawClient.connect(port);
  await client.go();
  const { socket } = client;
  socket.removeAllListeners('data');
  const started = performance.now();
  let sent = 0;
  let answered = 0;
  let held: Buffer = Buffer.alloc(0);
  const replyBytes = replyHeadBytes + (op === 'read' ? lengthBytes : 0);
  const requestBytes = requestHeadBytes + (op === 'write' ? lengthBytes : 0);
  return new Promise<PipelineRun>((resolve, reject) => {
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.on('close', () => {
      if (answered < count) fail(new Error(`the server closed after ${answered} of ${count} replies`));
    });
    socket.on('data', (chunk: Buffer) => {
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      let at = 0;
      for (; held.length - at >= replyBytes; at += replyBytes) {
        const magic = held.readUInt32BE(at);
        const error = held.readUInt32BE(at + 4);
        if (magic !== SIMPLE_REPLY_MAGIC || error !== 0)
          return fail(new Error(`reply ${answered}: magic ${magic.toString(16)}, error ${error}`));
        answered += 1;
      }
      held = held.subarray(at);
      if (answered === count) {
        socket.destroy();
        resolve({ seconds: (performance.now() - started) / 1000, answered });
      }
    });
    const send = (): void => {
      while (sent < count) {
        const n = Math.min(batch, count - sent);
        const requests = Buffer.alloc(n * requestBytes, 0x5a);
        for (let i = 0; i < n; i++, sent++) {
          const at = i * requestBytes;
          requests.writeUInt32BE(REQUEST_MAGIC, at);
          requests.writeUInt16BE(0, at + 4);
          requests.writeUInt16BE(op === 'read' ? Command.Read : Command.Write, at + 6);
          requests.writeBigUInt64BE(BigInt(sent), at + 8);
          requests.writeBigUInt64BE(BigInt((sent * lengthBytes) % (spanBytes - lengthBytes)), at + 16);
          requests.writeUInt32BE(lengthBytes, at + 24);
        }
        if (!socket.write(requests)) return void socket.once('drain', send);
      }
    };
    send();
  });
}
