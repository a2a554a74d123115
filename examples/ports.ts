/**
 * Ports and sockets: what a port number is for, where ephemeral ports come from, and why
 * UDP port 7 and TCP port 7 are two different things.
 *
 *   node dist/examples/ports.js
 *   node dist/examples/ports.js --port 53 --service domain --service http
 *
 * 1. The three ranges (RFC 6335 6): well-known (system) 0-1023, registered (user)
 *    1024-49151, dynamic (private, ephemeral) 49152-65535.
 * 2. Ephemeral ports: a socket that sends or connects without bind() gets a port from the
 *    dynamic range, picked at random (RFC 6056 suggests randomising to make off-path
 *    attacks harder). A few UDP sockets and TCP connections show it.
 * 3. One host (10.77.0.3) runs a UDP service and a TCP service on the SAME port number at
 *    once. The IP protocol field (17 or 6) decides which transport gets a packet; each
 *    transport has its own port table, so both bind() calls succeed and both answer.
 * 4. Service names from /etc/services (getservbyname), where the file exists.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs, listFlag, usage } from '../src/cli/args.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { createSocket, EPHEMERAL_HIGH, EPHEMERAL_LOW } from '../src/udp/index.js';
import { SERVER, hostPair, intFlag, runExample } from './lib/setup.js';

const specs = {
  port: { kind: 'number' as const, description: 'the port number both services use', default: 7 },
  service: { kind: 'list' as const, description: 'look up a service name in /etc/services (repeatable)' },
  services: { kind: 'string' as const, description: 'the services file', default: '/etc/services' },
  help: { kind: 'boolean' as const, short: 'h', description: 'show this help' },
};

runExample('ports', async () => {
  const p = parseArgs(process.argv.slice(2), specs);
  if (p.flags.help) {
    console.log(usage('node dist/examples/ports.js [options]', specs));
    return 0;
  }
  const port = intFlag(p, 'port', 1, 65535);
  const names = listFlag(p, 'service');
  if (names.length === 0) names.push('echo', 'domain', 'http', 'https');

  console.log('1. Port ranges (RFC 6335)');
  console.log('   well-known (system)  0-1023       e.g. 7 echo, 53 domain, 80 http');
  console.log('   registered (user)    1024-49151   e.g. 5001 iperf, 9090 prometheus');
  console.log(`   dynamic (ephemeral)  ${EPHEMERAL_LOW}-${EPHEMERAL_HIGH}  picked for sockets that never bind()`);
  console.log(`   port ${port} is ${rangeOf(port)}\n`);

  const { a, b, close } = await hostPair();
  try {
    // 3. The same port number on one host, once for UDP and once for TCP.
    const udp = createSocket({ type: 'udp4', host: b });
    udp.on('message', (msg, rinfo) => udp.send(`udp service on ${SERVER.addr}:${port} got "${msg}"`, rinfo.port, rinfo.address));
    await new Promise<void>((resolve) => udp.bind(port, resolve));
    const tcp = createServer({ host: b }, (s: Socket) => {
      s.once('data', (d: Buffer) => s.end(`tcp service on ${SERVER.addr}:${port} got "${d}"`));
    });
    tcp.listen(port);
    await once(tcp, 'listening');

    console.log(`2. Ephemeral ports, and one port number for two protocols: ${SERVER.addr} has UDP port ${port} AND TCP port ${port}`);
    console.log(`   bound at the same time; each client below never calls bind(), so the stack picks its port`);
    console.log(`   from the dynamic range (${a.addressString}:PORT)`);
    for (let i = 0; i < 3; i++) {
      const c = createSocket({ type: 'udp4', host: a });
      c.send(`ping ${i}`, port, SERVER.addr);
      const [reply] = (await once(c, 'message')) as [Buffer];
      console.log(`   udp  ${a.addressString}:${c.address().port} (ephemeral, ${rangeOf(c.address().port)}) <- ${reply}`);
      c.close();
    }
    for (let i = 0; i < 3; i++) {
      const s = connect({ via: a, host: SERVER.addr, port });
      await once(s, 'connect');
      const local = s.localPort!;
      s.end(`hello ${i}`);
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      await once(s, 'close');
      console.log(`   tcp  ${a.addressString}:${local} (ephemeral, ${rangeOf(local)}) <- ${Buffer.concat(chunks)}`);
    }
    udp.close();
    tcp.close();
  } finally {
    await close();
  }

  console.log(`\n3. Service names (${String(p.flags.services)})`);
  const table = readServices(String(p.flags.services));
  if (!table) {
    console.log(`   ${String(p.flags.services)} is absent on this system: no service-name lookup`);
  } else {
    for (const name of names) {
      const hits = table.filter((e) => e.name === name || e.aliases.includes(name));
      if (hits.length === 0) console.log(`   ${name}: not listed`);
      else console.log(`   ${name}: ${hits.map((h) => `${h.port}/${h.proto}`).join(', ')}`);
    }
  }
  return 0;
});

function rangeOf(port: number): string {
  if (port <= 1023) return 'well-known';
  if (port <= 49151) return 'registered';
  return 'dynamic';
}

interface ServiceEntry {
  name: string;
  port: number;
  proto: string;
  aliases: string[];
}

/** Parses /etc/services lines "name port/proto [aliases...] [# comment]"; undefined when absent. */
function readServices(path: string): ServiceEntry[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const out: ServiceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, pp, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(pp ?? '');
    if (!name || !m) continue;
    out.push({ name, port: Number(m[1]), proto: m[2]!, aliases });
  }
  return out;
}
