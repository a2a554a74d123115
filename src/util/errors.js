/**
 * Node-style errors: an Error with `code`, `errno`, `syscall` and, where it applies,
 * `address` and `port`, like the ones node:net and node:dgram produce.
 */
import { constants } from 'node:os';
const MESSAGES = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by peer',
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
export function makeError(code, syscall, extra = {}) {
    const where = extra.address !== undefined ? ` ${extra.address}${extra.port !== undefined ? `:${extra.port}` : ''}` : '';
    const text = extra.message ?? MESSAGES[code] ?? code;
    const err = new Error(syscall ? `${syscall} ${code}${where}` + (extra.message ? `: ${text}` : '') : `${code}: ${text}`);
    err.code = code;
    const errno = constants.errno[code];
    if (errno !== undefined)
        err.errno = -errno;
    if (syscall)
        err.syscall = syscall;
    if (extra.address !== undefined)
        err.address = extra.address;
    if (extra.port !== undefined)
        err.port = extra.port;
    return err;
}
/** A user-caused error on the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
    constructor(message) {
        super(message);
        this.name = 'UsageError';
    }
}
