/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` as its parts (host '' when absent), or undefined when not one. */
export function splitHostPort(text: string): { host: string; port: number; portText: string } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]), portText: match[3]! };
}
