import { splitHostPort } from '../transport/host-port.js';
import { UsageError } from './usage-error.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all addresses — only when the operator says so). */
export function parseHostPort(option: string, text: string): HostPort {
  const parts = splitHostPort(text);
  if (!parts) throw new UsageError(`${option}: '${text}' is not HOST:PORT (example: 127.0.0.1:10809)`);
  const { host, port, portText } = parts;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`${option}: port '${portText}' is out of range 0-65535`);
  return { host: host === '' ? '0.0.0.0' : host, port };
}
