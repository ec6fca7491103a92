import fs from 'node:fs';
import { BufferPool } from '../src/actors/buffer-pool.js';
import { crc32c } from '../src/actors/crc32c.js';
import { SingleExportCatalog } from '../src/backends/single-export.js';
import type { Backend, BlockSizes, Extent, ZeroOptions } from '../src/nbd/backend.js';
import { NbdServer } from '../src/nbd/server.js';
import { createLogger } from '../src/log.js';
import { arg } from './args.js';

/**
 * The least per-byte work the issues ask of whorl's data path, done as cheaply as Node allows, on
 * the front end's own thread (no actors, no LMDB, no maps): the floor under what any whorl design
 * can reach on this machine. Started by `npm run bench -- floor` as
 * `node floor-server.js --port=N --mode=M --file=PATH[,PATH2]`:
 *
 *   | mode   | reads                                  | writes                                     |
 *   |--------|----------------------------------------|--------------------------------------------|
 *   | plain  | pread from the file                    | pwrite to the file (what nbdkit-file does) |
 *   | crc    | pread, then check each block's CRC32C  | CRC32C of each block, then pwrite          |
 *   | crc2   | as crc, from the first copy            | CRC32C once, pwrite to both files          |
 *
 * Checksums live in memory, one per 4 KiB block. FLUSH is fdatasync of every file.
 */
const blockBytes = 4096;
type Mode = 'plain' | 'crc' | 'crc2';

class FloorBackend implements Backend {
  readonly description = 'whorl floor bench';
  readonly readOnly = false;
  readonly multiConn = true;
  readonly blockSizes: BlockSizes = {
    minimumBytes: blockBytes,
    preferredBytes: blockBytes,
    maximumBytes: 32 * 1024 * 1024,
  };
  private readonly fds: number[];
  private readonly crcs: Int32Array;

  constructor(
    private readonly mode: Mode,
    files: string[],
    private readonly size: number,
  ) {
    this.fds = files.map((file) => fs.openSync(file, 'r+'));
    this.crcs = new Int32Array(size / blockBytes).fill(crc32c(Buffer.alloc(blockBytes)) | 0);
  }

  sizeBytes(): number {
    return this.size;
  }

  async read(offsetBytes: number, into: Buffer): Promise<void> {
    let done = 0;
    while (done < into.length) done += fs.readSync(this.fds[0]!, into, done, into.length - done, offsetBytes + done);
    if (this.mode === 'plain') return;
    const first = offsetBytes / blockBytes;
    for (let i = 0; i * blockBytes < into.length; i++) {
      if ((crc32c(into.subarray(i * blockBytes, (i + 1) * blockBytes)) | 0) !== this.crcs[first + i])
        throw new Error(`checksum mismatch at block ${first + i}`);
    }
  }

  async write(offsetBytes: number, from: Buffer): Promise<void> {
    if (this.mode !== 'plain') {
      const first = offsetBytes / blockBytes;
      for (let i = 0; i * blockBytes < from.length; i++)
        this.crcs[first + i] = crc32c(from.subarray(i * blockBytes, (i + 1) * blockBytes)) | 0;
    }
    for (const fd of this.fds) {
      let done = 0;
      while (done < from.length) done += fs.writeSync(fd, from, done, from.length - done, offsetBytes + done);
    }
  }

  async flush(): Promise<void> {
    await Promise.all(
      this.fds.map(
        (fd) =>
          new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve()))),
      ),
    );
  }

  async trim(offsetBytes: number, lengthBytes: number): Promise<void> {
    await this.write(offsetBytes, Buffer.alloc(lengthBytes));
  }

  async zero(offsetBytes: number, lengthBytes: number, _options: ZeroOptions): Promise<void> {
    await this.write(offsetBytes, Buffer.alloc(lengthBytes));
  }

  async cache(): Promise<void> {}

  async blockStatus(_offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    return [{ lengthBytes, hole: false, zero: false }];
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const mode = arg(args, 'mode', 'plain') as Mode;
  if (!['plain', 'crc', 'crc2'].includes(mode)) throw new Error(`--mode: '${mode}' is not one of plain, crc, crc2`);
  const files = arg(args, 'file', '').split(',');
  if (files.length !== (mode === 'crc2' ? 2 : 1))
    throw new Error(`--file: mode ${mode} takes ${mode === 'crc2' ? 2 : 1} file(s), got ${files.length}`);
  const size = fs.statSync(files[0]!).size;
  const log = createLogger('warn', { name: 'floor' });
  const server = new NbdServer(
    new SingleExportCatalog('default', new FloorBackend(mode, files, size)),
    new BufferPool(),
    log,
  );
  await server.listen({ kind: 'tcp', host: '127.0.0.1', port: Number(arg(args, 'port', '0')) });
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

void main();
