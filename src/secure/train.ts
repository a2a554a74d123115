/**
 * Cutting a UDP GRO read of the secure mode back into its datagrams. With UDP_GRO a socket
 * may read a train of same-flow datagrams whole (src/link/udp-offload.ts): back to back, all
 * as long as the first except a shorter last one, and the kernel does not say how long (node
 * does not pass on its control message). The overlay's IPv4 packets carry their length; a
 * sealed data message does not (WireGuard's layout: type 4, three zero bytes, the receiver's
 * session index, a 64-bit counter, the ciphertext and its tag). But every data message of
 * one session starts with the same 8 bytes (type, zeros, index), and a train is one flow: so
 * the segment size is where those 8 bytes appear again (a false match inside ciphertext is a
 * 2^-64 chance per position), and the read is cut only if every piece starts with them. A
 * piece that does not authenticate is dropped by the core like any datagram; anything that
 * does not cut cleanly (a handshake message, a rekey mid-train) is passed on whole.
 */
import { cutTrain } from '../link/udp-offload.js';
import { DATA_OVERHEAD, MSG_DATA } from './session.js';

const MARKER = 8;

/**
 * Calls `each` once per datagram of `buf`, in order, with a view (no copy); returns how many.
 * A read that is one datagram (or that does not cut cleanly) is passed on whole.
 */
export function splitSealedTrain(buf: Buffer, each: (datagram: Buffer) => void): number {
  const n = buf.length;
  const size = n >= 2 * DATA_OVERHEAD && buf[0] === MSG_DATA ? segmentSize(buf) : -1;
  if (size < 0) {
    each(buf);
    return 1;
  }
  return cutTrain(buf, size, each);
}

/** The train's segment size, or -1 when `buf` is not a clean train of data messages of one session. */
function segmentSize(buf: Buffer): number {
  const n = buf.length;
  const marker = buf.subarray(0, MARKER);
  const size = buf.indexOf(marker, DATA_OVERHEAD);
  if (size < 0) return -1;
  for (let off = size; off < n; off += size) {
    if (n - off < DATA_OVERHEAD || buf.compare(marker, 0, MARKER, off, off + MARKER) !== 0) return -1;
  }
  return size;
}
