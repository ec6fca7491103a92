import { Command, Errno } from '../../src/nbd/protocol.js';
import { blockBytes, type BlockJournal } from './block-journal.js';
import type { ClusterUnderTest } from './cluster.js';
import { RawClient } from './raw-client.js';

/**
 * Reads every block of the journal's range of export `disk` (1 MiB reads) and checks it; returns the
 * problems found.
 */
export async function checkJournal(
  cluster: ClusterUnderTest,
  journal: BlockJournal,
  blocks: number,
  disk = 'default',
): Promise<string[]> {
  const client = await RawClient.connect(cluster.port);
  await client.go(disk);
  const problems: string[] = [];
  const readBytes = 1024 * 1024;
  for (let offset = 0; offset < blocks * blockBytes; offset += readBytes) {
    client.request(Command.Read, { cookie: 1n, offset, length: readBytes });
    const reply = await client.reply();
    if (reply?.kind !== 'simple' || reply.error !== Errno.OK) throw new Error(`read of '${disk}' at ${offset} failed`);
    const bytes = await client.mustRead(readBytes);
    for (let i = 0; i < readBytes / blockBytes; i++) {
      const block = offset / blockBytes + i;
      const content = bytes.subarray(i * blockBytes, (i + 1) * blockBytes);
      const problem = journal.check(block, content);
      if (problem) problems.push(problem);
      journal.settle(block, content);
    }
  }
  client.destroy();
  return problems;
}
