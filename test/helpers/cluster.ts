import { startDaemon, whorlBin, type Daemon } from './daemon.js';
import { run, runOk, type RunResult } from './run.js';
import { scratchDirectory } from './scratch.js';

export interface ClusterUnderTest {
  readonly daemon: Daemon;
  readonly dataDir: string;
  readonly port: number;
  uri(disk?: string): string;
  /** Runs `whorl ARGS --data-dir DIR` (the CLI talks to the daemon over its admin socket). */
  cli(args: string[]): Promise<RunResult>;
  cliOk(args: string[]): Promise<RunResult>;
  json<T>(args: string[]): Promise<T>;
  /** Waits until every server is up (after a start or a resync). */
  waitUntilUp(timeoutMs?: number): Promise<void>;
  /** `kill -9` of the daemon; resolves once it is gone. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function clusterDirectory(): string {
  return scratchDirectory('whorl-cluster-');
}

/**
 * How long a cluster may take to serve. A start after kill -9 first recovers every busy region; on
 * a CI machine running two suites at once that took more than 15 s (servers still resyncing).
 */
const clusterStartMsMax = 60_000;

/** A real whorl daemon (`whorl serve`, cluster backend) on a fresh or given data directory. */
export async function startCluster(options: { dataDir?: string; args?: string[] } = {}): Promise<ClusterUnderTest> {
  const dataDir = options.dataDir ?? clusterDirectory();
  const daemon = await startDaemon(
    [
      '--data-dir',
      dataDir,
      '--default-disk-size',
      '1G',
      '--disk-capacity',
      '4G',
      '--log-level',
      'info',
      ...(options.args ?? []),
    ],
    clusterStartMsMax,
  );
  const cli = (args: string[]) =>
    run(process.execPath, [whorlBin, ...args, '--data-dir', dataDir], { timeoutMs: 120_000 });
  const cliOk = (args: string[]) =>
    runOk(process.execPath, [whorlBin, ...args, '--data-dir', dataDir], { timeoutMs: 120_000 });
  const json = async <T>(args: string[]) => JSON.parse((await cliOk([...args, '--json'])).stdout) as T;
  return {
    daemon,
    dataDir,
    port: daemon.port,
    uri: (disk = 'default') => `nbd://127.0.0.1:${daemon.port}/${disk}`,
    cli,
    cliOk,
    json,
    async waitUntilUp(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const servers = await json<Array<{ state: string }>>(['server', 'list']);
        if (servers.every((server) => server.state === 'up')) return;
        if (Date.now() > deadline)
          throw new Error(`servers not up: ${servers.map((server) => server.state).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async kill9() {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    },
    async stop() {
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
        daemon.child.kill('SIGTERM');
        await daemon.exited;
      }
    },
  };
}
