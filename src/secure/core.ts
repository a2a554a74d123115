/**
 * SecureCore: the sans-IO state machine of the secure overlay, one per host. It turns
 * IPv4 packets addressed to a peer into sealed data messages (running the Noise IK
 * handshake when there is no session yet, or when a session is due for rotation), and
 * turns arriving datagrams back into IPv4 packets, or drops and counts them by reason.
 * No sockets and no timers: every call takes `now` (ms) and the caller runs `tick(now)`
 * every `tickIntervalMs()` or so. What it sends and delivers goes through SecureIo.
 *
 * Peers are named by the UDP endpoint the host's peer table routes to (their
 * "configured" endpoint): the host sends to that endpoint and receives packets from it,
 * whatever UDP endpoint the peer really uses after roaming. So anti-spoofing in the host
 * becomes cryptokey routing: an inner source address is accepted only from the peer
 * whose key authenticated the datagram.
 */
import { randomBytes } from 'node:crypto';
import { keyPairFromPrivate, type KeyPair } from './crypto.js';
import { defaultAead, sodiumError, type Aead } from './aead.js';
import { COOKIE_REPLY_LEN, COOKIE_SECRET_MS, CookieJar, MAC_LEN, MSG_COOKIE_REPLY, checkMac1, macKeys, openCookieReply, writeMacs, type MacKeys } from './cookie.js';
import { IkInitiator, readInitiation } from './noise.js';
import { allocPacket } from '../util/slab.js';
import {
  DATA_OVERHEAD,
  DEFAULT_TIMERS,
  INITIATION_LEN,
  MSG_DATA,
  MSG_INITIATION,
  MSG_RESPONSE,
  RESPONSE_LEN,
  DATA_HEADER,
  Session,
  TIMESTAMP_LEN,
  readCounter,
  tai64n,
  type SecureTimers,
} from './session.js';

/** The Noise prologue: both sides must agree on it, so it names this protocol's version. */
export const PROLOGUE = Buffer.from('overlay-tcp secure v1', 'ascii');

export interface Endpoint {
  address: string;
  port: number;
}

export interface SecurePeerConfig {
  /** The peer's X25519 public key (32 bytes). */
  publicKey: Buffer;
  /** Where it is first reached (the host's peer table routes its prefix here). */
  endpoint: Endpoint;
}

export interface SecureCoreOptions {
  /** This host's X25519 private key (32 bytes). */
  privateKey: Buffer;
  peers: SecurePeerConfig[];
  /** Exchange plain FOU datagrams with endpoints that are not keyed peers (default false). */
  allowPlain?: boolean;
  timers?: Partial<SecureTimers>;
  /** Wall clock in ms for the initiation timestamps (default Date.now). */
  wallClock?: () => number;
  /**
   * Initiations per second (with a valid mac1, from anywhere) above which the responder is
   * under load: for one second it then answers an initiation without a valid mac2 with a
   * cookie reply instead of doing the Diffie-Hellman (default 50).
   */
  cookieThreshold?: number;
  /** Handshake initiations accepted per second from one source address, and the burst (WireGuard: 20, 5). */
  handshakeRate?: number;
  handshakeBurst?: number;
  /** Packets held per peer while its handshake runs (default 1024, as wireguard-go). */
  queueLimit?: number;
  /** Random 32-bit session indices (default: node:crypto randomBytes). */
  randomIndex?: () => number;
  /** The data path's ChaCha20-Poly1305 (default: sodium-native, or node:crypto if it does not load). */
  aead?: Aead;
}

export type SecureEvent =
  /** A handshake initiation went unanswered for one rekey timeout (wrong key? peer down?). */
  | { type: 'handshake_unanswered'; peer: Endpoint; publicKey: Buffer }
  /** The handshake gave up after rekeyAttemptTimeMs; the packets waiting for it were dropped. */
  | { type: 'handshake_failed'; peer: Endpoint; publicKey: Buffer }
  | { type: 'established'; peer: Endpoint; publicKey: Buffer; initiator: boolean }
  | { type: 'roamed'; peer: Endpoint; from: Endpoint; to: Endpoint };

export interface SecureIo {
  /**
   * Sends one datagram. Returning true says the link is done with `datagram` (the kernel
   * has copied it, nothing keeps a reference): the core then seals its next data message
   * into the same buffer instead of a new one. Return false or nothing when the datagram
   * may still be read later (queued by the socket, kept by a tap or a simulated link);
   * anything but `true` counts as that.
   */
  transmit(datagram: Buffer, port: number, address: string): unknown;
  /** An accepted IPv4 packet; `from` is the configured endpoint of the peer that sent it. */
  deliver(packet: Buffer, from: Endpoint): void;
  /** Packets dropped because their peer's handshake failed (the host answers ICMP host unreachable). */
  unreachable?(packets: Buffer[]): void;
  event?(e: SecureEvent): void;
}

export interface SecureStats {
  /** Initiations sent (first tries and retries). */
  handshakeInitiations: number;
  /** Handshakes completed, as initiator or as responder. */
  handshakesCompleted: number;
  /** Handshakes given up after rekeyAttemptTimeMs. */
  handshakesFailed: number;
  /** Sessions that replaced an earlier one (key rotations). */
  rekeys: number;
  /** Authenticated packets that moved a peer to a new UDP endpoint. */
  roams: number;
  /** Data messages sealed and opened, keepalives among them. */
  sealed: number;
  opened: number;
  /** Data messages sealed into the buffer of one the link had already sent and released. */
  datagramsReused: number;
  keepalivesIn: number;
  /** Plain FOU datagrams passed in each direction (allowPlain only). */
  plainIn: number;
  plainOut: number;
  /** Initiations that reached the Diffie-Hellman (as responder). */
  handshakeDh: number;
  /** Cookie replies sent (under load, instead of a DH), and received and accepted (as initiator). */
  cookieRepliesSent: number;
  cookiesReceived: number;
  /** Data messages sealed or opened by the node:crypto fallback (sodium-native did not load). */
  aeadFallback: number;
  /** Drops by reason: truncated, bad_type, unknown_index, bad_mac, replay, expired, unknown_key, handshake_*, ... */
  drops: Map<string, number>;
}

interface PendingHandshake {
  init: IkInitiator;
  localIndex: number;
  /** When the first initiation of this attempt went out, and the latest one. */
  attemptStart: number;
  lastSent: number;
  announced: boolean;
  /** A cookie reply came during this attempt: the peer is there (under load), not silent. */
  cookied: boolean;
  /** mac1 of the latest initiation: a cookie reply to it carries it as AD. */
  mac1: Buffer;
}

class Peer {
  endpoint: Endpoint;
  current: Session | undefined;
  previous: Session | undefined;
  /** A responder's session not yet confirmed by a data message from the initiator. */
  next: Session | undefined;
  hs: PendingHandshake | undefined;
  /** When data went out with nothing authenticated received since (-1: answered). */
  unansweredSince = -1;
  /** When data came in with nothing sent since (-1: none), for the passive keepalive. */
  unrepliedSince = -1;
  lastTimestamp: Buffer | undefined;
  queue: Buffer[] = [];
  /** The latest cookie from this peer's cookie reply, and when it came. */
  cookie: Buffer | undefined;
  cookieAt = 0;
  readonly keys: MacKeys;
  constructor(
    readonly publicKey: Buffer,
    readonly configured: Endpoint,
  ) {
    this.endpoint = { ...configured };
    this.keys = macKeys(publicKey);
  }
}

interface IndexEntry {
  peer: Peer;
  session: Session | undefined;
}

const epKey = (address: string, port: number): string => `${address}:${port}`;

export class SecureCore {
  readonly stats: SecureStats = {
    handshakeInitiations: 0,
    handshakesCompleted: 0,
    handshakesFailed: 0,
    rekeys: 0,
    roams: 0,
    sealed: 0,
    opened: 0,
    datagramsReused: 0,
    keepalivesIn: 0,
    plainIn: 0,
    plainOut: 0,
    handshakeDh: 0,
    cookieRepliesSent: 0,
    cookiesReceived: 0,
    aeadFallback: 0,
    drops: new Map(),
  };
  /** The data path's AEAD implementation. */
  readonly aead: Aead;
  private readonly fallback: boolean;
  readonly timers: SecureTimers;
  readonly allowPlain: boolean;
  private readonly local: KeyPair;
  private readonly byEndpoint = new Map<string, Peer>();
  private readonly byKey = new Map<string, Peer>();
  private readonly indices = new Map<number, IndexEntry>();
  private readonly wallClock: () => number;
  private lastWall = 0;
  private readonly rate: number;
  private readonly burst: number;
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  private readonly queueLimit: number;
  private readonly randomIndex: () => number;
  private lastPeer: Peer | undefined;
  private readonly ownKeys: MacKeys;
  private readonly cookies: CookieJar;
  private readonly loadRate: number;
  private loadTokens: number;
  private loadLast = 0;
  private underLoadUntil = -Infinity;
  private lastPort = -1;
  private lastAddress = '';
  /** A datagram buffer the link reported consumed, its sealed part, and its length (-1: none). */
  private spareOut: Buffer | undefined;
  private spareSealed: Buffer | undefined;
  private spareLen = -1;

  constructor(
    opts: SecureCoreOptions,
    private readonly io: SecureIo,
  ) {
    this.local = keyPairFromPrivate(opts.privateKey);
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.allowPlain = opts.allowPlain ?? false;
    this.wallClock = opts.wallClock ?? Date.now;
    this.rate = opts.handshakeRate ?? 20;
    this.burst = opts.handshakeBurst ?? 5;
    this.queueLimit = opts.queueLimit ?? 1024;
    this.randomIndex = opts.randomIndex ?? randomUint32;
    this.aead = opts.aead ?? defaultAead;
    this.fallback = this.aead.name !== 'sodium-native';
    this.ownKeys = macKeys(this.local.publicKey);
    this.cookies = new CookieJar(this.ownKeys, this.aead);
    this.loadRate = Math.max(1, opts.cookieThreshold ?? 50);
    this.loadTokens = this.loadRate;
    if (this.fallback && !opts.aead) warnFallback();
    for (const p of opts.peers) this.addPeer(p);
  }

  get publicKey(): Buffer {
    return this.local.publicKey;
  }

  /** Adds a keyed peer; throws RangeError on a bad key or an endpoint or key already used. */
  addPeer(p: SecurePeerConfig): void {
    if (p.publicKey.length !== 32) throw new RangeError('a peer public key is 32 bytes');
    const k = epKey(p.endpoint.address, p.endpoint.port);
    const hex = p.publicKey.toString('hex');
    if (this.byEndpoint.get(k) === this.byKey.get(hex) && this.byKey.has(hex)) return; // the same peer again
    if (this.byEndpoint.has(k)) throw new RangeError(`two keyed peers share the endpoint ${k}`);
    if (this.byKey.has(hex)) throw new RangeError('two peers share one public key');
    const peer = new Peer(Buffer.from(p.publicKey), { address: p.endpoint.address, port: p.endpoint.port });
    this.byEndpoint.set(k, peer);
    this.byKey.set(hex, peer);
  }

  /** Whether the configured endpoint belongs to a keyed peer. */
  isKeyed(address: string, port: number): boolean {
    return this.byEndpoint.has(epKey(address, port));
  }

  /** The peer's UDP endpoint now (after roaming), by its configured endpoint. */
  currentEndpoint(address: string, port: number): Endpoint | undefined {
    const p = this.byEndpoint.get(epKey(address, port));
    return p ? { ...p.endpoint } : undefined;
  }

  /** How often the caller should run tick(). */
  tickIntervalMs(): number {
    return Math.max(10, Math.min(250, this.timers.rekeyTimeoutMs / 4));
  }

  drop(reason: string): void {
    this.stats.drops.set(reason, (this.stats.drops.get(reason) ?? 0) + 1);
  }

  // ---- sending ----

  /** Sends one IPv4 packet to the peer configured at address:port. Never throws (failures are counted). */
  send(packet: Buffer, port: number, address: string, now: number): void {
    try {
      this.sendUnsafe(packet, port, address, now);
    } catch {
      this.drop('internal_error');
    }
  }

  private sendUnsafe(packet: Buffer, port: number, address: string, now: number): void {
    // A sender sends to one peer at a time: skip building the map key per packet.
    let peer = this.lastPeer;
    if (port !== this.lastPort || address !== this.lastAddress || !peer) {
      peer = this.byEndpoint.get(epKey(address, port));
      this.lastPeer = peer;
      this.lastPort = port;
      this.lastAddress = address;
    }
    if (!peer) {
      if (!this.allowPlain) {
        this.drop('no_peer_key');
        return;
      }
      this.stats.plainOut++;
      this.io.transmit(packet, port, address);
      return;
    }
    const s = peer.current;
    if (s && s.usable(now, this.timers)) {
      if (peer.unansweredSince < 0) peer.unansweredSince = now;
      this.transmitData(peer, s, packet);
      if (!peer.hs && this.dueForRekey(s, now)) this.initiate(peer, now, now);
      return;
    }
    if (peer.queue.length >= this.queueLimit) {
      peer.queue.shift();
      this.drop('queue_full');
    }
    // A copy: the caller may reuse its buffer once send returns.
    peer.queue.push(Buffer.from(packet));
    if (!peer.hs) this.initiate(peer, now, now);
  }

  private transmitData(peer: Peer, s: Session, packet: Buffer): void {
    this.stats.sealed++;
    if (this.fallback) this.stats.aeadFallback++;
    peer.unrepliedSince = -1;
    // The last datagram the link reported consumed is sealed into again when this one has
    // the same length (a bulk sender's are all full-size): no buffer and no views per
    // packet. Otherwise a new one from the slabs. The spare is given up while it is out, so
    // a send nested in transmit never seals into it.
    const len = DATA_OVERHEAD + packet.length;
    let out: Buffer;
    let sealed: Buffer;
    if (this.spareLen === len) {
      out = this.spareOut!;
      sealed = this.spareSealed!;
      this.stats.datagramsReused++;
    } else {
      out = allocPacket(len);
      sealed = out.subarray(DATA_HEADER);
    }
    this.spareLen = -1;
    s.sealInto(packet, out, sealed);
    // Not released: `out` stays the link's; any spare a nested send left is another buffer.
    if (this.io.transmit(out, peer.endpoint.port, peer.endpoint.address) === true) {
      this.spareOut = out;
      this.spareSealed = sealed;
      this.spareLen = len;
    }
  }

  private dueForRekey(s: Session, now: number): boolean {
    if (s.sendCounter >= this.timers.rekeyAfterMessages) return true;
    // The initiator of a session rekeys on time; the responder only later, so that the
    // two rarely start handshakes at once (both would still complete).
    const age = now - s.created;
    return age >= this.timers.rekeyAfterTimeMs + (s.initiator ? 0 : 2 * this.timers.rekeyTimeoutMs);
  }

  private initiate(peer: Peer, now: number, attemptStart: number): void {
    if (peer.hs) this.indices.delete(peer.hs.localIndex);
    const localIndex = this.newIndex();
    let init: IkInitiator;
    try {
      init = new IkInitiator(this.local, peer.publicKey, PROLOGUE, tai64n(this.wallNow()));
    } catch {
      // A low-order peer key: no handshake can ever succeed.
      this.drop('handshake_bad_key');
      peer.hs = undefined;
      return;
    }
    const msg = Buffer.alloc(INITIATION_LEN);
    msg.writeUInt32LE(MSG_INITIATION, 0);
    msg.writeUInt32LE(localIndex, 4);
    init.message.copy(msg, 8);
    const cookie = peer.cookie && now - peer.cookieAt < COOKIE_SECRET_MS ? peer.cookie : undefined;
    const mac1 = writeMacs(msg, peer.keys.mac1, cookie);
    const announced = peer.hs?.announced ?? false;
    const cookied = peer.hs?.cookied ?? false;
    peer.hs = { init, localIndex, attemptStart, lastSent: now, announced, cookied, mac1 };
    this.indices.set(localIndex, { peer, session: undefined });
    this.stats.handshakeInitiations++;
    this.io.transmit(msg, peer.endpoint.port, peer.endpoint.address);
  }

  /** Strictly increasing wall-clock ms, for initiation timestamps. */
  private wallNow(): number {
    const w = Math.max(this.wallClock(), this.lastWall + 1);
    this.lastWall = w;
    return w;
  }

  private newIndex(): number {
    for (let i = 0; i < 100; i++) {
      const x = this.randomIndex() >>> 0;
      if (!this.indices.has(x)) return x;
    }
    throw new Error('no free session index');
  }

  // ---- timers ----

  /** Retries and gives up handshakes, expires old sessions. Run it every tickIntervalMs(). */
  tick(now: number): void {
    const t = this.timers;
    for (const peer of this.byKey.values()) {
      const hs = peer.hs;
      if (hs && now - hs.lastSent >= t.rekeyTimeoutMs) {
        if (!hs.announced && !hs.cookied) {
          hs.announced = true;
          this.io.event?.({ type: 'handshake_unanswered', peer: { ...peer.configured }, publicKey: peer.publicKey });
        }
        if (now - hs.attemptStart >= t.rekeyAttemptTimeMs) this.giveUp(peer);
        else this.initiate(peer, now, hs.attemptStart);
      }
      // Sending into silence: the peer may have lost its sessions (restarted); a new handshake.
      if (!peer.hs && peer.current && peer.unansweredSince >= 0 && now - peer.unansweredSince >= t.keepaliveTimeoutMs + t.rekeyTimeoutMs) {
        peer.unansweredSince = -1;
        this.initiate(peer, now, now);
      }
      // Receiving and not sending: a keepalive, so that the sender knows we are here.
      if (peer.current && peer.unrepliedSince >= 0 && now - peer.unrepliedSince >= t.keepaliveTimeoutMs && peer.current.usable(now, t)) {
        this.transmitData(peer, peer.current, Buffer.alloc(0));
      }
      for (const which of ['previous', 'current', 'next'] as const) {
        const s = peer[which];
        if (s && now - s.created >= t.rejectAfterTimeMs) {
          this.indices.delete(s.localIndex);
          peer[which] = undefined;
        }
      }
    }
    if (this.buckets.size > 0) {
      for (const [k, b] of this.buckets) if (now - b.last > 1000) this.buckets.delete(k);
    }
  }

  private giveUp(peer: Peer): void {
    const hs = peer.hs!;
    this.indices.delete(hs.localIndex);
    peer.hs = undefined;
    this.stats.handshakesFailed++;
    const lost = peer.queue.splice(0);
    for (let i = 0; i < lost.length; i++) this.drop('handshake_timeout');
    if (lost.length) this.io.unreachable?.(lost);
    this.io.event?.({ type: 'handshake_failed', peer: { ...peer.configured }, publicKey: peer.publicKey });
  }

  // ---- receiving ----

  /**
   * One datagram from the UDP socket. Never throws: it is delivered, or dropped and counted.
   * `owned`: nothing else holds or reads `d` (node:dgram's own buffer for one message), so
   * a data message is opened in place and its plaintext delivered as a view of `d` (whose
   * bytes are then no longer the datagram). Otherwise the plaintext goes to a new buffer.
   */
  receive(d: Buffer, from: Endpoint, now: number, owned = false): void {
    try {
      this.receiveUnsafe(d, from, now, owned);
    } catch {
      this.drop('internal_error');
    }
  }

  private receiveUnsafe(d: Buffer, from: Endpoint, now: number, owned: boolean): void {
    if (d.length < 4) {
      this.drop('truncated');
      return;
    }
    if (d[0]! >> 4 === 4) {
      this.receivePlain(d, from);
      return;
    }
    const type = d.readUInt32LE(0);
    if (type === MSG_DATA) this.receiveData(d, from, now, owned);
    else if (type === MSG_INITIATION) this.receiveInitiation(d, from, now);
    else if (type === MSG_RESPONSE) this.receiveResponse(d, from, now);
    else if (type === MSG_COOKIE_REPLY) this.receiveCookieReply(d, now);
    else this.drop('bad_type');
  }

  private receivePlain(d: Buffer, from: Endpoint): void {
    if (!this.allowPlain) {
      this.drop('plain_not_allowed');
      return;
    }
    // A keyed peer is reachable only through the secure mode, from either endpoint.
    if (this.byEndpoint.has(epKey(from.address, from.port)) || this.isCurrentEndpoint(from)) {
      this.drop('plain_from_keyed_peer');
      return;
    }
    this.stats.plainIn++;
    this.io.deliver(d, from);
  }

  private isCurrentEndpoint(from: Endpoint): boolean {
    for (const p of this.byKey.values()) if (p.endpoint.port === from.port && p.endpoint.address === from.address) return true;
    return false;
  }

  private receiveData(d: Buffer, from: Endpoint, now: number, owned: boolean): void {
    if (d.length < DATA_OVERHEAD) {
      this.drop('truncated');
      return;
    }
    const e = this.indices.get(d.readUInt32LE(4));
    const s = e?.session;
    if (!e || !s) {
      this.drop('unknown_index');
      return;
    }
    if (now - s.created >= this.timers.rejectAfterTimeMs) {
      this.drop('expired');
      return;
    }
    const counter = readCounter(d);
    if (counter >= this.timers.rejectAfterMessages) {
      this.drop('counter_limit');
      return;
    }
    const pt = owned ? s.openInPlace(counter, d) : s.open(counter, d);
    if (!pt) {
      this.drop('bad_mac');
      return;
    }
    if (!s.replay.check(counter)) {
      this.drop('replay');
      return;
    }
    this.stats.opened++;
    if (this.fallback) this.stats.aeadFallback++;
    const peer = e.peer;
    peer.unansweredSince = -1;
    if (s === peer.next) this.install(peer, s);
    this.roam(peer, from);
    if (pt.length === 0) {
      this.stats.keepalivesIn++;
      return;
    }
    if (peer.unrepliedSince < 0) peer.unrepliedSince = now;
    this.io.deliver(pt, peer.configured);
  }

  private takeToken(address: string, now: number): boolean {
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size >= 4096) return false;
      b = { tokens: this.burst, last: now };
      this.buckets.set(address, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.last) / 1000) * this.rate);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private receiveInitiation(d: Buffer, from: Endpoint, now: number): void {
    if (d.length !== INITIATION_LEN) {
      this.drop('truncated');
      return;
    }
    // Before any DH: mac1 proves the sender knows our public key (an HMAC).
    if (!checkMac1(d, this.ownKeys.mac1)) {
      this.drop('handshake_bad_mac1');
      return;
    }
    // Under load, no DH without a cookie bound to the source address: a cookie reply instead.
    if (this.underLoad(now) && !this.cookies.checkMac2(d, from.address, from.port, now)) {
      this.drop('handshake_under_load');
      this.stats.cookieRepliesSent++;
      this.io.transmit(this.cookies.reply(d, from.address, from.port, now), from.port, from.address);
      return;
    }
    // Then a flood from one address costs a map lookup each.
    if (!this.takeToken(from.address, now)) {
      this.drop('handshake_rate_limited');
      return;
    }
    this.stats.handshakeDh++;
    const r = readInitiation(this.local, PROLOGUE, d.subarray(8, INITIATION_LEN - 2 * MAC_LEN), TIMESTAMP_LEN);
    if (typeof r === 'string') {
      this.drop(r === 'bad_ephemeral' ? 'handshake_bad_ephemeral' : r === 'truncated' ? 'truncated' : 'handshake_bad_mac');
      return;
    }
    const peer = this.byKey.get(r.remoteStatic.toString('hex'));
    if (!peer) {
      this.drop('unknown_key');
      return;
    }
    if (peer.lastTimestamp && Buffer.compare(r.payload, peer.lastTimestamp) <= 0) {
      this.drop('handshake_replay');
      return;
    }
    let resp: ReturnType<typeof r.respond>;
    try {
      resp = r.respond(Buffer.alloc(0));
    } catch {
      this.drop('handshake_bad_ephemeral');
      return;
    }
    peer.lastTimestamp = r.payload;
    const localIndex = this.newIndex();
    const remoteIndex = d.readUInt32LE(4);
    if (peer.next) this.indices.delete(peer.next.localIndex);
    const s = new Session(resp.keys.send, resp.keys.recv, localIndex, remoteIndex, now, false, this.aead);
    peer.next = s;
    this.indices.set(localIndex, { peer, session: s });
    this.roam(peer, from);
    const msg = Buffer.alloc(RESPONSE_LEN);
    msg.writeUInt32LE(MSG_RESPONSE, 0);
    msg.writeUInt32LE(localIndex, 4);
    msg.writeUInt32LE(remoteIndex, 8);
    resp.message.copy(msg, 12);
    writeMacs(msg, peer.keys.mac1, undefined);
    this.stats.handshakesCompleted++;
    this.io.transmit(msg, peer.endpoint.port, peer.endpoint.address);
  }

  private receiveResponse(d: Buffer, from: Endpoint, now: number): void {
    if (d.length !== RESPONSE_LEN) {
      this.drop('truncated');
      return;
    }
    const localIndex = d.readUInt32LE(8);
    const e = this.awaitingReply(localIndex);
    if (!e) return;
    const hs = e.peer.hs!;
    if (!checkMac1(d, this.ownKeys.mac1)) {
      this.drop('handshake_bad_mac1');
      return;
    }
    const res = hs.init.readResponse(d.subarray(12, RESPONSE_LEN - 2 * MAC_LEN));
    if (!res) {
      this.drop('handshake_bad_mac');
      return;
    }
    const peer = e.peer;
    peer.hs = undefined;
    peer.unansweredSince = -1;
    const s = new Session(res.keys.send, res.keys.recv, localIndex, d.readUInt32LE(4), now, true, this.aead);
    e.session = s;
    this.stats.handshakesCompleted++;
    this.roam(peer, from);
    this.install(peer, s);
    // Confirm the session to the responder at once if nothing else will.
    if (peer.queue.length === 0) this.transmitData(peer, s, Buffer.alloc(0));
  }

  /**
   * The index entry of our pending initiation with `localIndex` (its peer.hs is set), which a
   * handshake response or a cookie reply answers; otherwise undefined, and the message is
   * dropped as unknown_index (no such index, a session already made with it, or a newer
   * initiation).
   */
  private awaitingReply(localIndex: number): IndexEntry | undefined {
    const e = this.indices.get(localIndex);
    const hs = e?.peer.hs;
    if (!e || e.session || !hs || hs.localIndex !== localIndex) {
      this.drop('unknown_index');
      return undefined;
    }
    return e;
  }

  /**
   * Whether the initiations of the last second exceeded the threshold (a token bucket of
   * `cookieThreshold` per second; each initiation with a valid mac1 takes a token). Once
   * empty, the responder stays under load for one second (WireGuard's UnderLoadAfterTime).
   */
  private underLoad(now: number): boolean {
    this.loadTokens = Math.min(this.loadRate, this.loadTokens + (Math.max(0, now - this.loadLast) / 1000) * this.loadRate);
    this.loadLast = now;
    if (this.loadTokens >= 1) this.loadTokens -= 1;
    else this.underLoadUntil = now + 1000;
    return now < this.underLoadUntil;
  }

  /**
   * A cookie reply to our latest initiation: the cookie goes into the next one's mac2
   * (sent when the handshake is retried, after rekeyTimeoutMs, as WireGuard does).
   */
  private receiveCookieReply(d: Buffer, now: number): void {
    if (d.length !== COOKIE_REPLY_LEN) {
      this.drop('truncated');
      return;
    }
    const e = this.awaitingReply(d.readUInt32LE(4));
    if (!e) return;
    const hs = e.peer.hs!;
    const cookie = openCookieReply(this.aead, e.peer.keys.cookie, d, hs.mac1);
    if (!cookie) {
      this.drop('cookie_bad_mac');
      return;
    }
    e.peer.cookie = cookie;
    e.peer.cookieAt = now;
    hs.cookied = true;
    this.stats.cookiesReceived++;
  }

  /** Makes `s` the peer's current session (the old one stays for receiving) and flushes the queue. */
  private install(peer: Peer, s: Session): void {
    if (peer.next === s) peer.next = undefined;
    if (peer.previous) this.indices.delete(peer.previous.localIndex);
    if (peer.current) this.stats.rekeys++;
    peer.previous = peer.current;
    peer.current = s;
    this.io.event?.({ type: 'established', peer: { ...peer.configured }, publicKey: peer.publicKey, initiator: s.initiator });
    const q = peer.queue.splice(0);
    for (const p of q) this.transmitData(peer, s, p);
  }

  /** An authenticated packet from a new UDP endpoint moves the peer there (WireGuard's roaming). */
  private roam(peer: Peer, from: Endpoint): void {
    if (peer.endpoint.port === from.port && peer.endpoint.address === from.address) return;
    const old = peer.endpoint;
    peer.endpoint = { address: from.address, port: from.port };
    this.stats.roams++;
    this.io.event?.({ type: 'roamed', peer: { ...peer.configured }, from: old, to: { ...peer.endpoint } });
  }
}

let warned = false;
/** One process warning (a log line on stderr) when the data path runs on the fallback. */
function warnFallback(): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`secure mode: sodium-native did not load (${sodiumError ?? 'unknown'}); ChaCha20-Poly1305 runs on node:crypto, about 3x slower per packet`, { code: 'OVERLAY_AEAD_FALLBACK' });
}

function randomUint32(): number {
  return randomBytes(4).readUInt32LE(0);
}
