import test from 'ava';
import { MemoryBackend } from '../src/backends/memory.js';
import { runOk } from './helpers/run.js';
import { startServer } from './helpers/server.js';

/** Records what kind of memory the front end hands the backend for payloads. */
class Recording extends MemoryBackend {
  readonly seen: string[] = [];

  override async write(offsetBytes: number, from: Buffer, fua: boolean): Promise<void> {
    this.seen.push(`write:${from.buffer.constructor.name}`);
    return super.write(offsetBytes, from, fua);
  }

  override async read(offsetBytes: number, into: Buffer): Promise<void> {
    this.seen.push(`read:${into.buffer.constructor.name}`);
    return super.read(offsetBytes, into);
  }
}

test('WRITE payloads land in, and READ replies go out from, shared slab slots', async (t) => {
  const backend = new Recording(16 * 1024 * 1024);
  const served = await startServer(backend);
  await runOk('qemu-io', [
    '-f',
    'raw',
    '-c',
    'write -P 0x11 0 4k',
    '-c',
    'write -P 0x12 1M 1M',
    '-c',
    'read -P 0x12 1M 1M',
    served.uri,
  ]);
  t.true(backend.seen.length >= 3);
  t.deepEqual(new Set(backend.seen), new Set(['write:SharedArrayBuffer', 'read:SharedArrayBuffer']));
  await served.close();
  t.is(served.pool.leased, 0);
});
