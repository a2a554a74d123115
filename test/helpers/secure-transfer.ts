/**
 * A child process for test/integration/secure-reuse.test.ts: two secure Hosts in this
 * process, one TCP transfer of `--bytes` random bytes from A to B over real loopback UDP,
 * then one JSON line on stdout: whether B got exactly what A sent (SHA-256), A's sealed and
 * reused data-message counts, both sides' drops by reason, and (--tap) whether any
 * datagram an outer tap kept changed afterwards. The parent runs it with and
 * without node's --test-udp-no-try-send (every datagram queued by libuv instead of sent at
 * once), which is how a full socket buffer behaves.
 *
 *   node secure-transfer.js --bytes N [--tap]
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Socket } from '../../src/net.js';
import { newKeyPair } from '../../src/secure/keys.js';
import { SecureLink } from '../../src/secure/secure-link.js';
import { sha } from './digest.js';

const argv = process.argv;
const bytes = Number(argv[argv.indexOf('--bytes') + 1]);
const ka = newKeyPair();
const kb = newKeyPair();
// --no-offload: one datagram per send call (no UDP GSO trains), as node:dgram sends by itself.
const offload = !argv.includes('--no-offload');
const b = await Host.create({ address: '10.77.0.3', offload, key: kb.privateKey, peers: [{ prefix: '10.77.0.2', endpoint: { address: '127.0.0.1', port: 9 }, publicKey: ka.publicKey }] });
const a = await Host.create({ address: '10.77.0.2', offload, key: ka.privateKey, peers: [{ prefix: '10.77.0.3', endpoint: b.endpoint, publicKey: kb.publicKey }] });
const linkA = a.link as SecureLink;
const linkB = b.link as SecureLink;
// --tap: outer taps that keep every datagram A sends and B receives, to compare at the end.
const tapped: Array<{ d: Buffer; copy: Buffer }> = [];
const tappedIn: Array<{ d: Buffer; copy: Buffer }> = [];
if (argv.includes('--tap')) {
  linkA.addOuterTap((dir, d) => dir === 'out' && tapped.push({ d, copy: Buffer.from(d) }));
  linkB.addOuterTap((dir, d) => dir === 'in' && tappedIn.push({ d, copy: Buffer.from(d) }));
}
const data = randomBytes(bytes);
const received: Buffer[] = [];
const srv = createServer({ host: b }, (s: Socket) => {
  s.on('data', (d: Buffer) => received.push(d));
  s.on('end', () => s.end());
});
await new Promise<void>((r) => srv.listen(5004, r));
const c = connect({ via: a, host: '10.77.0.3', port: 5004 });
await once(c, 'connect');
c.resume();
c.end(data);
await once(c, 'close');
const st = linkA.secureStats;
process.stdout.write(
  JSON.stringify({
    intact: sha(Buffer.concat(received)) === sha(data),
    sealed: st.sealed,
    reused: st.datagramsReused,
    dropsA: Object.fromEntries(st.drops),
    dropsB: Object.fromEntries(linkB.secureStats.drops),
    tapped: tapped.length,
    tapChanged: tapped.filter((t) => !t.d.equals(t.copy)).length,
    tappedIn: tappedIn.length,
    tapInChanged: tappedIn.filter((t) => !t.d.equals(t.copy)).length,
  }) + '\n',
);
srv.close();
await a.close();
await b.close();
