/**
 * What the NBD front end needs from whatever stores the bytes. The front end checks every request
 * at the boundary (range, alignment, flags, read-only), so a backend may assert instead of
 * re-checking. All offsets and lengths are bytes; all operations are asynchronous.
 */
export interface Extent {
  readonly lengthBytes: number;
  /** Not allocated: reads as zeros and takes no space. */
  readonly hole: boolean;
  /** Reads as zeros (allocated or not). */
  readonly zero: boolean;
}

export interface BlockSizes {
  readonly minimumBytes: number;
  readonly preferredBytes: number;
  readonly maximumBytes: number;
}

export interface ZeroOptions {
  readonly fua: boolean;
  /** The client allows the range to become a hole (no NO_HOLE flag). */
  readonly mayTrim: boolean;
  /** The client wants ENOTSUP rather than a slow zeroing (FAST_ZERO). */
  readonly fastOnly: boolean;
}

export interface Backend {
  readonly description: string;
  readonly readOnly: boolean;
  /** A FLUSH on any connection covers writes answered on every connection to this backend. */
  readonly multiConn: boolean;
  readonly blockSizes: BlockSizes;
  /** Read at each handshake, so a resized disk shows its new size on the next connection. */
  sizeBytes(): number;
  read(offsetBytes: number, into: Buffer): Promise<void>;
  /**
   * Optional: reads and says where the holes were in the same pass (a backend whose reads learn
   * that anyway), so a sparse READ reply does not first ask `blockStatus`.
   */
  readSparse?(offsetBytes: number, into: Buffer): Promise<Extent[]>;
  write(offsetBytes: number, from: Buffer, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  trim(offsetBytes: number, lengthBytes: number, fua: boolean): Promise<void>;
  zero(offsetBytes: number, lengthBytes: number, options: ZeroOptions): Promise<void>;
  cache(offsetBytes: number, lengthBytes: number): Promise<void>;
  /** Extents covering at least the first byte of the range, contiguous from `offsetBytes`. */
  blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]>;
  /**
   * Optional: how many times, since the backend started, writes it had answered may have been
   * lost before a flush made them durable (a whorl worker thread died holding them). Each
   * connection's FLUSH fails once for every such loss since the connection began, as `fsync`
   * reports a lost write-back once to each open file.
   */
  lostWrites?(): number;
  /** A connection began transmission on this backend / ended it (optional bookkeeping). */
  attach?(): void;
  detach?(): void;
}

export interface ExportListing {
  readonly name: string;
  readonly description: string;
}

/** The exports a server offers. The empty name is the default export. */
export interface ExportCatalog {
  list(): ExportListing[];
  /** The backend behind a name, or undefined when there is no such export. */
  open(name: string): Backend | undefined;
}
