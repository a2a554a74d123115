/**
 * Run-time validation of `Host.create` options, for JavaScript callers who have no types:
 * Node-style errors as node:net and node:dgram throw them (`ERR_INVALID_ARG_TYPE` and
 * `ERR_INVALID_ARG_VALUE` are TypeErrors, `ERR_OUT_OF_RANGE` a RangeError), never a silent
 * default. A UDP endpoint is `{ address, port }` or the string 'A.B.C.D:PORT'; its address
 * must be an IPv4 literal (the anti-spoofing check compares addresses, so no host names).
 */
import { isIPv4 } from 'node:net';
import { inspect } from 'node:util';
import { parseEndpoint, parseIpv4, parsePrefix } from '../wire/addr.js';
import type { UdpEndpoint } from './types.js';

export type OptionErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

export interface OptionError extends Error {
  code: OptionErrorCode;
}

function received(v: unknown): string {
  if (v === null || v === undefined) return `Received ${v}`;
  if (typeof v === 'function') return 'Received function';
  if (typeof v === 'object') return `Received ${inspect(v, { depth: 0, breakLength: Infinity })}`;
  return `Received type ${typeof v} (${inspect(v)})`;
}

export function optionError(code: OptionErrorCode, name: string, v: unknown, what: string): OptionError {
  const text =
    code === 'ERR_INVALID_ARG_TYPE'
      ? `The "${name}" property must be ${what}. ${received(v)}`
      : code === 'ERR_OUT_OF_RANGE'
        ? `The value of "${name}" is out of range. It must be ${what}. Received ${inspect(v)}`
        : `The property '${name}' ${what}. Received ${inspect(v)}`;
  const err = (code === 'ERR_OUT_OF_RANGE' ? new RangeError(text) : new TypeError(text)) as OptionError;
  err.code = code;
  return err;
}

function integer(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw optionError('ERR_INVALID_ARG_TYPE', name, v, 'of type number');
  if (!Number.isInteger(v) || v < min || v > max) throw optionError('ERR_OUT_OF_RANGE', name, v, `an integer >= ${min} and <= ${max}`);
  return v;
}

/** `{ address, port }` or 'A.B.C.D:PORT' -> a checked endpoint. */
export function endpointOption(name: string, v: unknown, allowZeroPort: boolean): UdpEndpoint {
  const minPort = allowZeroPort ? 0 : 1;
  if (typeof v === 'string') {
    const ep = parseEndpoint(v);
    if (!ep || !isIPv4(ep.address)) throw optionError('ERR_INVALID_ARG_VALUE', name, v, "must be 'A.B.C.D:PORT' (an IPv4 address and a port)");
    if (ep.port < minPort) throw optionError('ERR_OUT_OF_RANGE', `${name}.port`, ep.port, `>= ${minPort} and <= 65535`);
    return ep;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw optionError('ERR_INVALID_ARG_TYPE', name, v, "an object { address, port } or a string 'A.B.C.D:PORT'");
  }
  const o = v as Record<string, unknown>;
  if (typeof o.address !== 'string') throw optionError('ERR_INVALID_ARG_TYPE', `${name}.address`, o.address, 'of type string');
  if (!isIPv4(o.address)) throw optionError('ERR_INVALID_ARG_VALUE', `${name}.address`, o.address, 'must be an IPv4 address');
  return { address: o.address, port: integer(`${name}.port`, o.port, minPort, 65535) };
}

export interface ValidHostOptions {
  address: number;
  udp: UdpEndpoint;
  peers: Array<{ prefix: string; endpoint: UdpEndpoint; publicKey?: Buffer | string }>;
  mtu: number;
  learn: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
}

/** Checks every option of Host.create; throws the first problem as a Node-style error. */
export function validateHostOptions(opts: unknown, mtuRange: { min: number; max: number; default: number }): ValidHostOptions {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw optionError('ERR_INVALID_ARG_TYPE', 'options', opts, 'of type object');
  const o = opts as Record<string, unknown>;
  if (typeof o.address !== 'string') throw optionError('ERR_INVALID_ARG_TYPE', 'options.address', o.address, 'of type string');
  const address = parseIpv4(o.address);
  if (address === undefined) throw optionError('ERR_INVALID_ARG_VALUE', 'options.address', o.address, 'must be an IPv4 address A.B.C.D');
  const udp = o.udp === undefined ? { address: '127.0.0.1', port: 0 } : endpointOption('options.udp', o.udp, true);
  const mtu = o.mtu === undefined ? mtuRange.default : integer('options.mtu', o.mtu, mtuRange.min, mtuRange.max);
  for (const k of ['learn', 'connectPeer', 'allowPlain', 'offload', 'batchReads', 'directSends'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw optionError('ERR_INVALID_ARG_TYPE', `options.${k}`, o[k], 'of type boolean');
  }
  const peers: ValidHostOptions['peers'] = [];
  if (o.peers !== undefined) {
    if (!Array.isArray(o.peers)) throw optionError('ERR_INVALID_ARG_TYPE', 'options.peers', o.peers, 'an array of { prefix, endpoint }');
    o.peers.forEach((p: unknown, i) => {
      const name = `options.peers[${i}]`;
      if (typeof p !== 'object' || p === null) throw optionError('ERR_INVALID_ARG_TYPE', name, p, 'an object { prefix, endpoint }');
      const { prefix, endpoint, publicKey } = p as Record<string, unknown>;
      if (typeof prefix !== 'string') throw optionError('ERR_INVALID_ARG_TYPE', `${name}.prefix`, prefix, 'of type string');
      if (!parsePrefix(prefix)) throw optionError('ERR_INVALID_ARG_VALUE', `${name}.prefix`, prefix, 'must be A.B.C.D or A.B.C.D/N');
      if (publicKey !== undefined && typeof publicKey !== 'string' && !Buffer.isBuffer(publicKey)) {
        throw optionError('ERR_INVALID_ARG_TYPE', `${name}.publicKey`, publicKey, 'a 32-byte Buffer or a base64 string');
      }
      const peer: ValidHostOptions['peers'][number] = { prefix, endpoint: endpointOption(`${name}.endpoint`, endpoint, false) };
      if (publicKey !== undefined) peer.publicKey = publicKey;
      peers.push(peer);
    });
  }
  const out: ValidHostOptions = { address, udp, peers, mtu, learn: o.learn === true };
  for (const k of ['recvBufferSize', 'sendBufferSize'] as const) {
    if (o[k] !== undefined) out[k] = integer(`options.${k}`, o[k], 1, 2 ** 31 - 1);
  }
  return out;
}
