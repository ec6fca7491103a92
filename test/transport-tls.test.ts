import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { ActorRuntime } from '../src/actors/runtime.js';
import { address } from '../src/actors/address.js';
import { localClient } from '../src/actors/local-client.js';
import { linkNodes } from '../src/transport/node-links.js';
import { peerTls } from '../src/nbd/tls-policy.js';
import { temporaryDirectory } from './helpers/disk.js';
import { makeCredentials } from './helpers/tls-certs.js';

/**
 * Node links over TLS (issue 31, multi-host links): nodes given the same CA link with mutual
 * verification and carry actors' requests; a node whose certificate another CA signed, and a
 * node without TLS, are refused, and the refusal is logged by the node that refused.
 */
const root = temporaryDirectory('whorl-links-tls-');
test.after.always(() => fs.rmSync(root, { recursive: true, force: true }));

async function node(name: string, credentials: string | undefined, lines: string[]) {
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const runtime = await ActorRuntime.start({ node: name, threads: 0, log });
  const linked = await linkNodes(runtime, {
    cluster: 'tls',
    log,
    listen: { host: '127.0.0.1', port: 0 },
    ...(credentials ? { tls: peerTls(credentials) } : {}),
  });
  return { runtime, ...linked };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

test('nodes of one CA link over TLS and carry requests; another CA and plain TCP are refused and logged', async (t) => {
  const credentials = makeCredentials(root);
  const stranger = path.join(root, 'stranger-node');
  fs.mkdirSync(stranger);
  fs.copyFileSync(path.join(credentials.strangerClient, 'ca-cert.pem'), path.join(stranger, 'ca-cert.pem'));
  fs.copyFileSync(path.join(credentials.strangerClient, 'client-cert.pem'), path.join(stranger, 'server-cert.pem'));
  fs.copyFileSync(path.join(credentials.strangerClient, 'client-key.pem'), path.join(stranger, 'server-key.pem'));
  const logs = { a: [] as string[], b: [] as string[], c: [] as string[], d: [] as string[] };
  const a = await node('a', credentials.server, logs.a);
  const b = await node('b', credentials.server, logs.b);
  const c = await node('c', stranger, logs.c);
  const d = await node('d', undefined, logs.d);
  t.teardown(async () => {
    for (const one of [a, b, c, d]) {
      await one.links.close();
      await one.runtime.stop();
    }
  });
  b.runtime.spawnLocal('echo', (context) => ({
    receive(incoming) {
      if (incoming.kind === 'request') context.reply(incoming, { ok: true, echoed: incoming.body });
    },
  }));
  a.links.addPeer('b', '127.0.0.1', b.port);
  b.links.addPeer('a', '127.0.0.1', a.port);
  t.true(await until(() => a.links.isUp('b') && b.links.isUp('a')), 'a and b link');
  const reply = await localClient(a.runtime, 'tester').request(address('b', 'echo'), { op: 'ping' });
  t.deepEqual(reply, { ok: true, echoed: { op: 'ping' } });

  // c (another CA) and d (no TLS) sort after b: b dials them, and they refuse b, or b refuses them.
  for (const [name, other] of [
    ['c', c],
    ['d', d],
  ] as const) {
    b.links.addPeer(name, '127.0.0.1', other.port);
    other.links.addPeer('b', '127.0.0.1', b.port);
  }
  t.true(
    await until(() => logs.b.some((line) => line.includes('peer link refused: TLS') && line.includes('"peer":"c"'))),
    'b logs that c refused its certificate or showed one b refuses',
  );
  t.true(await until(() => logs.c.some((line) => line.includes('peer link refused: TLS'))), 'c logs its refusal');
  t.true(
    await until(() => logs.b.some((line) => line.includes('peer link refused: TLS') && line.includes('"peer":"d"'))),
    'b logs the handshake that plain d cannot make',
  );
  t.false(b.links.isUp('c') || c.links.isUp('b') || b.links.isUp('d') || d.links.isUp('b'));
});
