import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Hosts for multi-host tests on one machine: each host is a network namespace with one veth
 * interface (eth0, 10.77.N.x/16) whose other end sits on a bridge in a namespace of its own, so
 * hosts reach each other and nothing else; the machine's own interfaces are never touched. Names
 * carry this process's id, so two test files never share one; `remove` (also run at exit) deletes
 * every namespace, and with them their interfaces.
 */
export interface Hosts {
  readonly names: readonly string[];
  /** The host's address on the hosts' network. */
  address(host: string): string;
  /** Runs `command` in the host's namespace (the child's PID is the command's: `ip netns exec` execs). */
  spawn(host: string, command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  exec(host: string, command: string, args: readonly string[]): string;
  /** Drops everything between `host` and `other` (both ways), or restores it. */
  cut(host: string, other: string): void;
  heal(host: string, other: string): void;
  remove(): void;
}

const made = new Set<string>();
let exitHook = false;

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function removeNamespaces(namespaces: Iterable<string>): void {
  for (const namespace of [...namespaces]) {
    try {
      ip(['netns', 'del', namespace]);
    } catch {
      // already gone
    }
    made.delete(namespace);
  }
}

export function makeHosts(names: readonly string[]): Hosts {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => removeNamespaces(made));
  }
  const tag = `w${process.pid % 100_000}`;
  const subnet = 10 + (process.pid % 200);
  const namespaceOf = (host: string): string => `${tag}-${host}`;
  const bridge = `${tag}-net`;
  const addresses = new Map(names.map((host, i) => [host, `10.77.${subnet}.${i + 1}`]));
  const all = [bridge, ...names.map(namespaceOf)];
  try {
    for (const namespace of all) {
      ip(['netns', 'add', namespace]);
      made.add(namespace);
      ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
    }
    ip(['-n', bridge, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridge, 'link', 'set', 'br0', 'up']);
    names.forEach((host, i) => {
      const inner = `${tag}h${i}`;
      const outer = `${tag}b${i}`;
      ip(['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer]);
      ip(['link', 'set', inner, 'netns', namespaceOf(host)]);
      ip(['link', 'set', outer, 'netns', bridge]);
      ip(['-n', namespaceOf(host), 'link', 'set', inner, 'name', 'eth0']);
      ip(['-n', namespaceOf(host), 'addr', 'add', `${addresses.get(host)}/16`, 'dev', 'eth0']);
      ip(['-n', namespaceOf(host), 'link', 'set', 'eth0', 'up']);
      ip(['-n', bridge, 'link', 'set', outer, 'master', 'br0']);
      ip(['-n', bridge, 'link', 'set', outer, 'up']);
    });
  } catch (error) {
    removeNamespaces(all);
    throw error;
  }
  const route = (verb: 'add' | 'del', host: string, other: string): void => {
    ip(['-n', namespaceOf(host), 'route', verb, 'blackhole', `${addresses.get(other)}/32`]);
    ip(['-n', namespaceOf(other), 'route', verb, 'blackhole', `${addresses.get(host)}/32`]);
  };
  return {
    names,
    address: (host) => addresses.get(host)!,
    spawn: (host, command, args, options = {}) =>
      spawn('ip', ['netns', 'exec', namespaceOf(host), command, ...args], options),
    exec: (host, command, args) =>
      execFileSync('ip', ['netns', 'exec', namespaceOf(host), command, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    cut: (host, other) => route('add', host, other),
    heal: (host, other) => route('del', host, other),
    remove: () => removeNamespaces(all),
  };
}
