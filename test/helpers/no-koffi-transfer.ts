/**
 * Two hosts in this process and one TCP transfer between them over real loopback UDP, for
 * test/integration/no-koffi.test.ts, which runs it with koffi (the optional dependency) made
 * unloadable: prints one JSON line with what each host's offload() says, whether the bytes
 * arrived intact, the trains the sender sent, and the receiving link's counters.
 *
 *   node --import <a hook that hides koffi> dist/test/helpers/no-koffi-transfer.js
 */
import { randomBytes } from 'node:crypto';
import { Host } from '../../src/host/host.js';
import { connect } from '../../src/net.js';
import { hashServer, sendAndDigest, sha } from './digest.js';

const b = await Host.create({ address: '10.93.0.2' });
const a = await Host.create({ address: '10.93.0.1', peers: [{ prefix: '10.93.0.2/32', endpoint: b.endpoint }] });
b.addPeer('10.93.0.1/32', a.endpoint);
const { server } = await hashServer(b, 5001);
const data = randomBytes(8 * 1024 * 1024);
const s = connect({ via: a, host: '10.93.0.2', port: 5001 });
const intact = (await sendAndDigest(s, data, 30_000)) === sha(data);
s.destroy();
server.close();
const ls = b.link.stats;
process.stdout.write(
  JSON.stringify({ a: a.offload(), b: b.offload(), intact, trainsOut: a.link.stats.trainsOut, link: { packetsIn: ls.packetsIn, trainsIn: ls.trainsIn, batchReads: ls.batchReads } }) + '\n',
);
await a.close();
await b.close();
