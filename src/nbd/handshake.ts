import type { Logger } from '../log.js';
import type { Backend, ExportCatalog } from './backend.js';
import {
  BASE_ALLOCATION,
  BASE_ALLOCATION_ID,
  CLIENT_FLAGS_KNOWN,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  InfoType,
  NBDMAGIC,
  OPTION_BYTES_MAX,
  Option,
  Reply,
  STRING_BYTES_MAX,
} from './protocol.js';
import * as replies from './option-replies.js';
import type { TlsMode } from './tls-policy.js';
import { transmissionFlags } from './transmission-flags.js';

/** The byte stream a handshake runs over; reads reject when the client goes away. */
export interface HandshakeIO {
  readExact(n: number): Promise<Buffer>;
  skip(n: number): Promise<void>;
  write(data: Buffer): void;
  /**
   * Upgrades the stream to TLS (after STARTTLS was acknowledged); resolves false when the client
   * sent bytes ahead of its TLS handshake or the handshake failed (the connection is then closed).
   */
  startTls(): Promise<boolean>;
}

export interface Negotiated {
  readonly exportName: string;
  readonly backend: Backend;
  readonly structured: boolean;
  /** `base:allocation` was selected for this export: BLOCK_STATUS is allowed. */
  readonly baseAllocation: boolean;
  readonly flags: number;
  /** `backend.lostWrites()` as this connection last reported it (set when transmission starts). */
  lostWritesReported: number;
}

class Malformed extends Error {}

/** Reads an option's data field by field; any overrun is a malformed option (ERR_INVALID). */
class OptionData {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  u16(): number {
    this.need(2);
    const value = this.data.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  string(lengthBytes: number): string {
    if (lengthBytes > STRING_BYTES_MAX) throw new Malformed(`string of ${lengthBytes} bytes`);
    this.need(lengthBytes);
    const text = this.data.toString('utf8', this.offset, this.offset + lengthBytes);
    this.offset += lengthBytes;
    return text;
  }

  end(): void {
    if (this.offset !== this.data.length) throw new Malformed(`${this.data.length - this.offset} trailing bytes`);
  }

  private need(n: number): void {
    if (this.offset + n > this.data.length) throw new Malformed('option data too short');
  }
}

interface State {
  readonly tls: TlsMode;
  /** STARTTLS has upgraded the stream. */
  secured: boolean;
  structured: boolean;
  /** Export name for which base:allocation is selected, if any. */
  metaContextExport: string | undefined;
}

type Step =
  { kind: 'continue' } | { kind: 'close' } | { kind: 'starttls' } | { kind: 'transmit'; negotiated: Negotiated };
const carryOn: Step = { kind: 'continue' };
const close: Step = { kind: 'close' };

/**
 * Runs fixed-newstyle option haggling. Returns what transmission needs, or undefined when the
 * connection should close (ABORT, protocol violation, unknown export on EXPORT_NAME).
 */
export async function negotiate(
  io: HandshakeIO,
  catalog: ExportCatalog,
  log: Logger,
  tls: TlsMode = 'off',
): Promise<Negotiated | undefined> {
  const greeting = Buffer.allocUnsafe(18);
  greeting.writeBigUInt64BE(NBDMAGIC, 0);
  greeting.writeBigUInt64BE(IHAVEOPT, 8);
  greeting.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  io.write(greeting);

  const clientFlags = (await io.readExact(4)).readUInt32BE(0);
  if ((clientFlags & ~CLIENT_FLAGS_KNOWN) !== 0 || (clientFlags & FLAG_FIXED_NEWSTYLE) === 0) {
    log.info({ clientFlags }, 'client flags refused');
    return undefined;
  }
  const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
  const state: State = { tls, secured: false, structured: false, metaContextExport: undefined };

  for (;;) {
    const header = await io.readExact(16);
    if (header.readBigUInt64BE(0) !== IHAVEOPT) {
      log.info('bad option magic');
      return undefined;
    }
    const option = header.readUInt32BE(8);
    const lengthBytes = header.readUInt32BE(12);
    if (lengthBytes > OPTION_BYTES_MAX) {
      if (option === Option.ExportName) return undefined;
      await io.skip(lengthBytes);
      io.write(replies.errorReply(option, Reply.ErrTooBig, `option of ${lengthBytes} bytes is too long`));
      continue;
    }
    const data = await io.readExact(lengthBytes);
    let step: Step;
    try {
      step = handleOption(option, data, state, noZeroes, io, catalog);
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      io.write(replies.errorReply(option, Reply.ErrInvalid, error.message));
      step = carryOn;
    }
    if (step.kind === 'close') return undefined;
    if (step.kind === 'transmit') return step.negotiated;
    if (step.kind === 'starttls') {
      // Whatever was haggled in plaintext is forgotten (the spec: an attacker may have injected it).
      if (!(await io.startTls())) return undefined;
      state.secured = true;
      state.structured = false;
      state.metaContextExport = undefined;
      log.info('TLS started');
    }
  }
}

function handleOption(
  option: number,
  data: Buffer,
  state: State,
  noZeroes: boolean,
  io: HandshakeIO,
  catalog: ExportCatalog,
): Step {
  if (state.tls === 'require' && !state.secured && option !== Option.StartTls && option !== Option.Abort) {
    // EXPORT_NAME has no error reply: the spec has the server close instead.
    if (option === Option.ExportName) return close;
    io.write(replies.errorReply(option, Reply.ErrTlsReqd, 'this server requires TLS: send STARTTLS first'));
    return carryOn;
  }
  switch (option) {
    case Option.StartTls:
      return startTls(data, state, io);
    case Option.ExportName:
      return exportName(data, state, noZeroes, io, catalog);
    case Option.Abort:
      io.write(replies.optionReply(option, Reply.Ack));
      return close;
    case Option.List:
      if (data.length !== 0) throw new Malformed('LIST takes no data');
      for (const listing of catalog.list()) {
        io.write(replies.optionReply(option, Reply.Server, replies.serverData(listing.name, listing.description)));
      }
      io.write(replies.optionReply(option, Reply.Ack));
      return carryOn;
    case Option.Info:
    case Option.Go:
      return infoOrGo(option, data, state, io, catalog);
    case Option.StructuredReply:
      if (data.length !== 0) throw new Malformed('STRUCTURED_REPLY takes no data');
      state.structured = true;
      io.write(replies.optionReply(option, Reply.Ack));
      return carryOn;
    case Option.ListMetaContext:
    case Option.SetMetaContext:
      return metaContext(option, data, state, io, catalog);
    default:
      // EXTENDED_HEADERS and everything unknown.
      io.write(replies.errorReply(option, Reply.ErrUnsup, `option ${option} is not supported`));
      return carryOn;
  }
}

function startTls(data: Buffer, state: State, io: HandshakeIO): Step {
  if (state.tls === 'off') {
    io.write(replies.errorReply(Option.StartTls, Reply.ErrUnsup, 'TLS is not configured on this server'));
    return carryOn;
  }
  if (data.length !== 0) throw new Malformed('STARTTLS takes no data');
  if (state.secured) {
    io.write(replies.errorReply(Option.StartTls, Reply.ErrInvalid, 'TLS is already started'));
    return carryOn;
  }
  io.write(replies.optionReply(Option.StartTls, Reply.Ack));
  return { kind: 'starttls' };
}

function exportName(data: Buffer, state: State, noZeroes: boolean, io: HandshakeIO, catalog: ExportCatalog): Step {
  if (data.length > STRING_BYTES_MAX) return close;
  const name = data.toString('utf8');
  const backend = catalog.open(name);
  if (!backend) return close;
  const flags = transmissionFlags(backend, state.structured);
  io.write(replies.exportNameSuccess(backend.sizeBytes(), flags, noZeroes));
  return transmit(name, backend, state, flags);
}

function infoOrGo(option: number, data: Buffer, state: State, io: HandshakeIO, catalog: ExportCatalog): Step {
  const reader = new OptionData(data);
  const name = reader.string(reader.u32());
  const requestCount = reader.u16();
  const requested = new Set<number>();
  for (let i = 0; i < requestCount; i++) requested.add(reader.u16());
  reader.end();

  const backend = catalog.open(name);
  if (!backend) {
    io.write(replies.errorReply(option, Reply.ErrUnknown, `no export named '${name}'`));
    return carryOn;
  }
  const flags = transmissionFlags(backend, state.structured);
  io.write(replies.optionReply(option, Reply.Info, replies.infoExport(backend.sizeBytes(), flags)));
  if (requested.has(InfoType.Name)) {
    io.write(replies.optionReply(option, Reply.Info, replies.infoString(InfoType.Name, name)));
  }
  if (requested.has(InfoType.Description)) {
    io.write(replies.optionReply(option, Reply.Info, replies.infoString(InfoType.Description, backend.description)));
  }
  // Sent even when not asked for: whorl's minimum is 1 byte, so it never constrains a client.
  io.write(replies.optionReply(option, Reply.Info, replies.infoBlockSize(backend.blockSizes)));
  io.write(replies.optionReply(option, Reply.Ack));
  return option === Option.Go ? transmit(name, backend, state, flags) : carryOn;
}

function transmit(name: string, backend: Backend, state: State, flags: number): Step {
  return {
    kind: 'transmit',
    negotiated: {
      exportName: name,
      backend,
      structured: state.structured,
      baseAllocation: state.structured && state.metaContextExport === name,
      flags,
      lostWritesReported: 0,
    },
  };
}

function metaContext(option: number, data: Buffer, state: State, io: HandshakeIO, catalog: ExportCatalog): Step {
  const reader = new OptionData(data);
  const name = reader.string(reader.u32());
  const queryCount = reader.u32();
  const queries: string[] = [];
  for (let i = 0; i < queryCount; i++) queries.push(reader.string(reader.u32()));
  reader.end();

  const isSet = option === Option.SetMetaContext;
  if (isSet && !state.structured) {
    io.write(replies.errorReply(option, Reply.ErrInvalid, 'SET_META_CONTEXT needs STRUCTURED_REPLY first'));
    return carryOn;
  }
  if (!catalog.open(name)) {
    io.write(replies.errorReply(option, Reply.ErrUnknown, `no export named '${name}'`));
    return carryOn;
  }
  const matches = isSet
    ? queries.includes(BASE_ALLOCATION)
    : queries.length === 0 || queries.some((query) => query === BASE_ALLOCATION || query === 'base:');
  if (isSet) state.metaContextExport = matches ? name : undefined;
  if (matches) {
    io.write(
      replies.optionReply(option, Reply.MetaContext, replies.metaContextData(BASE_ALLOCATION_ID, BASE_ALLOCATION)),
    );
  }
  io.write(replies.optionReply(option, Reply.Ack));
  return carryOn;
}
