/**
 * A chat room over overlay TCP. TCP is a byte stream with no message boundaries, so the
 * messages are framed: each is one MessagePack object, written by msgpackr's PackrStream
 * and cut out of the stream again by UnpackrStream, whatever sizes the segments had.
 *
 *   node dist/examples/chat.js --demo                        # server + 3 clients, one process
 *
 *   node dist/examples/chat.js --role server --learn         # 10.77.0.3, port 6000
 *   node dist/examples/chat.js --role client --name alice    # 10.77.0.2; type lines
 *   node dist/examples/chat.js --role client --name bob --addr 10.77.0.4 --udp 127.0.0.1:40004
 *
 * Messages: {type:'hello', name} from a client once; {type:'say', text} from a client;
 * {type:'msg', from, text} broadcast by the server to every client (the sender too), and
 * {type:'join'|'leave', name}.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PackrStream, UnpackrStream } from 'msgpackr';
import { Host } from '../src/host/host.js';
import { connect, createServer, type Server, type Socket } from '../src/net.js';
import { onShutdown } from '../src/cli/common.js';
import { UsageError } from '../src/util/errors.js';
import {
  CLIENT, SERVER, announce, exampleFlagSpecs, exampleHost, intFlag, parseExampleArgs, runExample,
} from './lib/setup.js';

type ChatMessage =
  | { type: 'hello'; name: string }
  | { type: 'say'; text: string }
  | { type: 'msg'; from: string; text: string }
  | { type: 'join' | 'leave'; name: string };

const CHAT_PORT = 6000;

/** A framed connection: send() packs one object; 'message' gives each object received. */
function framed(sock: Socket, onMessage: (m: ChatMessage) => void): { send(m: ChatMessage): void; end(): void } {
  const out = new PackrStream();
  out.pipe(sock);
  const input = new UnpackrStream();
  sock.pipe(input);
  input.on('data', (m: ChatMessage) => onMessage(m));
  input.on('error', () => sock.destroy()); // not MessagePack: drop the connection
  return { send: (m) => out.write(m), end: () => out.end() };
}

/** The server: remembers who is connected and relays every 'say' to all of them. */
function chatServer(host: Host, log: (line: string) => void): Server {
  const members = new Map<Socket, { name: string; send(m: ChatMessage): void }>();
  const broadcast = (m: ChatMessage): void => {
    for (const c of members.values()) c.send(m);
  };
  return createServer({ host }, (sock: Socket) => {
    let name = `${sock.remoteAddress}:${sock.remotePort}`;
    const conn = framed(sock, (m) => {
      if (m.type === 'hello' && typeof m.name === 'string') {
        name = m.name;
        members.set(sock, { name, send: conn.send });
        log(`server: ${name} joined from ${sock.remoteAddress}:${sock.remotePort}`);
        broadcast({ type: 'join', name });
      } else if (m.type === 'say' && typeof m.text === 'string' && members.has(sock)) {
        broadcast({ type: 'msg', from: name, text: m.text });
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (members.delete(sock)) broadcast({ type: 'leave', name });
    });
  });
}

/** A client: says hello, then whatever it is given; calls onMessage for each broadcast. */
async function chatClient(host: Host, server: string, port: number, name: string, onMessage: (m: ChatMessage) => void) {
  const sock = connect({ via: host, host: server, port });
  await once(sock, 'connect');
  const conn = framed(sock, onMessage);
  conn.send({ type: 'hello', name });
  return {
    sock,
    say: (text: string) => conn.send({ type: 'say', text }),
    close: async () => {
      conn.end();
      sock.end();
      await once(sock, 'close');
    },
  };
}

function show(m: ChatMessage): string {
  switch (m.type) {
    case 'msg':
      return `[${m.from}] ${m.text}`;
    case 'join':
      return `* ${m.name} joined`;
    case 'leave':
      return `* ${m.name} left`;
    default:
      return JSON.stringify(m);
  }
}

/** Server and three clients, each its own overlay host, in this process. */
async function demo(): Promise<number> {
  const names = ['alice', 'bob', 'carol'];
  const server = await Host.create({ address: SERVER.addr, udp: { address: '127.0.0.1', port: 0 } });
  const clients: Host[] = [];
  for (let i = 0; i < names.length; i++) {
    const h = await Host.create({ address: `10.77.0.${10 + i}`, udp: { address: '127.0.0.1', port: 0 } });
    h.addPeer(`${SERVER.addr}/32`, server.endpoint);
    server.addPeer(`${h.addressString}/32`, h.endpoint);
    clients.push(h);
  }
  const srv = chatServer(server, (l) => console.log(l));
  srv.listen(CHAT_PORT);
  await once(srv, 'listening');
  console.log(`server ${SERVER.addr}:${CHAT_PORT}; clients ${clients.map((c, i) => `${names[i]}@${c.addressString}`).join(', ')}`);

  const inbox = new Map<string, string[]>(names.map((n) => [n, []]));
  const expected = names.length; // every client must see every client's message
  let resolveAll: () => void = () => {};
  const allDelivered = new Promise<void>((r) => (resolveAll = r));
  const check = (): void => {
    if ([...inbox.values()].every((l) => l.length >= expected)) resolveAll();
  };
  const joined = new Map<string, number>(names.map((n) => [n, 0]));
  let resolveJoined: () => void = () => {};
  const allJoined = new Promise<void>((r) => (resolveJoined = r));

  const conns = await Promise.all(
    names.map((name, i) =>
      chatClient(clients[i]!, SERVER.addr, CHAT_PORT, name, (m) => {
        if (m.type === 'join') {
          joined.set(name, joined.get(name)! + 1);
          if ([...joined.values()].every((n) => n >= 1) && joined.get(names[0]!)! >= names.length) resolveJoined();
        }
        if (m.type === 'msg') {
          inbox.get(name)!.push(`${m.from}: ${m.text}`);
          console.log(`${name.padEnd(6)} got ${show(m)}`);
          check();
        }
      }),
    ),
  );
  // Everyone is in the room (alice, the first, has seen all three joins): now talk.
  await withTimeout(allJoined, 10_000, 'not every client joined');
  conns.forEach((c, i) => c.say(`hello from ${names[i]}`));
  await withTimeout(allDelivered, 10_000, 'not every message reached every client');

  let ok = true;
  for (const [name, got] of inbox) {
    const missing = names.filter((n) => !got.includes(`${n}: hello from ${n}`));
    console.log(`${name}: ${got.length} messages${missing.length ? `, MISSING from ${missing.join(', ')}` : ', all delivered'}`);
    if (missing.length) ok = false;
  }
  for (const c of conns) await c.close();
  srv.close();
  for (const h of [...clients, server]) await h.close();
  return ok ? 0 : 1;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))),
  ]);
}

const specsFor = (server: boolean) =>
  exampleFlagSpecs(server ? SERVER : CLIENT, {
    role: { kind: 'string', description: 'server or client' },
    demo: { kind: 'boolean', description: 'run a server and 3 clients in this process' },
    name: { kind: 'string', description: 'client: your name', default: process.env.USER ?? 'me' },
    server: { kind: 'string', description: 'client: overlay address of the server', default: SERVER.addr },
    port: { kind: 'number', description: 'overlay TCP port of the chat server', default: CHAT_PORT },
  });

runExample('chat', async () => {
  const argv = process.argv.slice(2);
  const isServer = argv.some((a, i) => (a === '--role' && argv[i + 1] === 'server') || a === '--role=server');
  const p = parseExampleArgs(argv, 'node dist/examples/chat.js --demo | --role server|client [options]', specsFor(isServer));
  if (p.flags.demo) return demo();
  const role = p.flags.role === undefined ? undefined : String(p.flags.role);
  if (role !== 'server' && role !== 'client') throw new UsageError('give --demo, or --role server or --role client');
  const port = intFlag(p, 'port', 1, 65535);
  const { host, close } = await exampleHost(p, role === 'server' ? CLIENT : SERVER);

  if (role === 'server') {
    const srv = chatServer(host, (l) => console.log(l));
    srv.listen(port);
    await once(srv, 'listening');
    announce(host, port);
    await new Promise<void>((resolve) => onShutdown(() => resolve()));
    srv.close();
    await close();
    return 0;
  }

  const name = String(p.flags.name);
  const c = await chatClient(host, String(p.flags.server), port, name, (m) => console.log(show(m)));
  console.log(`joined as ${name}; type a line to say it, Ctrl-D to leave`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => line.trim() && c.say(line));
  await Promise.race([once(rl, 'close'), once(c.sock, 'close')]);
  rl.close();
  if (!c.sock.destroyed) await c.close();
  await close();
  return 0;
});
