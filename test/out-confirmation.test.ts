import test from 'ava';
import { Command } from '../src/nbd/protocol.js';
import { pattern } from './helpers/disk.js';
import { RawClient, type TransmissionReply } from './helpers/raw-client.js';
import { servedCluster } from './helpers/served-cluster.js';

const errorOf = (reply: TransmissionReply | undefined): number => {
  if (reply?.kind !== 'simple') throw new Error('expected a simple reply');
  return reply.error;
};

test('a write one copy missed is not answered until the control actor has put that copy out; with no control actor it fails', async (t) => {
  const { cluster, port } = await servedCluster(t, 'whorl-out-');
  const client = await RawClient.connect(port);
  t.teardown(() => client.destroy());
  await client.go();
  const write = async (offset: number, byte: number): Promise<{ error: number; ms: number }> => {
    const started = Date.now();
    client.request(Command.Write, { offset, payload: pattern(byte) });
    return { error: errorOf(await client.reply(60_000)), ms: Date.now() - started };
  };
  // Block 0 is unit 0: group-0, primary server 0, secondary server 1.
  t.is((await write(0, 1)).error, 0);

  // Server 1 goes while the control actor runs: the write to server 0 alone is answered once the
  // control actor has taken server 1 down.
  await cluster.runtime.retire('server-1');
  const alone = await write(0, 2);
  t.is(alone.error, 0, 'answered: the control actor put server 1 out');
  t.is(cluster.view?.servers[1]?.state, 'down');

  // A copy lost while no control actor runs: group-2 (unit 2: servers 2 and 3) writes server 2
  // alone, and may not answer: nothing has ordered server 3's failure before the write.
  await cluster.runtime.retire('control');
  await cluster.runtime.retire('server-3');
  const unconfirmed = await write(2 * 16 * 4096, 3);
  t.not(unconfirmed.error, 0, 'a write server 3 missed is not answered while no control actor can put it out');
  t.true(unconfirmed.ms >= 5_000, `it waited for the control actor (${unconfirmed.ms} ms)`);
});
