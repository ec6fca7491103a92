import type { Backend } from './backend.js';
import {
  TX_CAN_MULTI_CONN,
  TX_HAS_FLAGS,
  TX_READ_ONLY,
  TX_SEND_CACHE,
  TX_SEND_DF,
  TX_SEND_FAST_ZERO,
  TX_SEND_FLUSH,
  TX_SEND_FUA,
  TX_SEND_TRIM,
  TX_SEND_WRITE_ZEROES,
} from './protocol.js';

/** What an export offers. DF only means something once structured replies are on. */
export function transmissionFlags(backend: Backend, structured: boolean): number {
  let flags = TX_HAS_FLAGS | TX_SEND_FLUSH | TX_SEND_FUA | TX_SEND_CACHE;
  if (backend.readOnly) flags |= TX_READ_ONLY;
  else flags |= TX_SEND_TRIM | TX_SEND_WRITE_ZEROES | TX_SEND_FAST_ZERO;
  if (structured) flags |= TX_SEND_DF;
  if (backend.multiConn) flags |= TX_CAN_MULTI_CONN;
  return flags;
}
