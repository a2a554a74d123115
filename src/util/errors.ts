/**
 * Node-style errors: an Error with `code`, `errno`, `syscall` and, where it applies,
 * `address` and `port`, like the ones node:net and node:dgram produce.
 */
import { constants } from 'node:os';

export type ErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ECONNABORTED'
  | 'ETIMEDOUT'
  | 'EPIPE'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EMSGSIZE'
  | 'EHOSTUNREACH'
  | 'ENOTCONN'
  | 'EISCONN'
  | 'EINVAL'
  | 'ENOBUFS'
  | 'EMFILE'
  | 'ERR_SOCKET_CLOSED'
  | 'ERR_STREAM_WRITE_AFTER_END'
  | 'ERR_SOCKET_DGRAM_NOT_RUNNING'
  | 'ERR_SERVER_NOT_RUNNING'
  | 'ERR_SERVER_ALREADY_LISTEN'
  | 'ERR_SOCKET_CONNECTING'
  | 'ERR_INVALID_ARG_VALUE';

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ECONNABORTED: 'connection aborted after an internal error in the TCP stack',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'broken pipe',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EMSGSIZE: 'message too long',
  EHOSTUNREACH: 'no route to host',
  ENOTCONN: 'socket is not connected',
  EISCONN: 'socket is already connected',
  EINVAL: 'invalid argument',
  ENOBUFS: 'no buffer space available',
  EMFILE: 'too many open connections',
};

export interface NodeStyleError extends Error {
  code: ErrorCode;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
}

export function makeError(
  code: ErrorCode,
  syscall?: string,
  extra: { address?: string; port?: number; message?: string } = {},
): NodeStyleError {
  const where = extra.address !== undefined ? ` ${extra.address}${extra.port !== undefined ? `:${extra.port}` : ''}` : '';
  const text = extra.message ?? MESSAGES[code] ?? code;
  const err = new Error(syscall ? `${syscall} ${code}${where}` + (extra.message ? `: ${text}` : '') : `${code}: ${text}`) as NodeStyleError;
  err.code = code;
  const errno = (constants.errno as Record<string, number>)[code];
  if (errno !== undefined) err.errno = -errno;
  if (syscall) err.syscall = syscall;
  if (extra.address !== undefined) err.address = extra.address;
  if (extra.port !== undefined) err.port = extra.port;
  return err;
}

/** A user-caused error on the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
