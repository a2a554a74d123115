/**
 * The TCP example programs as separate processes (each its own overlay host on its own
 * real UDP port on 127.0.0.1): the lecture's echo pair, the file stream with its sha256
 * check, and the msgpack chat room.
 */
import { expect } from 'chai';
import { freeUdpPorts, killTracked, spawnExample } from '../helpers/netns.js';

/** Host flags for a server (10.77.0.3) and a client (10.77.0.2) that route to each other. */
async function pairFlags(): Promise<{ server: string[]; client: string[] }> {
  const [sp, cp] = await freeUdpPorts(2);
  return {
    server: ['--udp', `127.0.0.1:${sp}`, '--peer', `10.77.0.2=127.0.0.1:${cp}`],
    client: ['--udp', `127.0.0.1:${cp}`, '--peer', `10.77.0.3=127.0.0.1:${sp}`],
  };
}

describe('examples: TCP programs', function () {
  this.timeout(30_000);
  afterEach(killTracked);

  it('tcp-echo-client connects, sends, and prints what tcp-echo-server (another process) echoed', async function () {
    const f = await pairFlags();
    const server = spawnExample('tcp-echo-server', [...f.server, '--port', '7', '--count', '1']);
    await server.waitFor(/listening 10\.77\.0\.3 udp=127\.0\.0\.1:\d+ port=7/);
    const client = spawnExample('tcp-echo-client', [...f.client, 'hello', 'over the overlay']);
    const [cc, sc] = await Promise.all([client.exited, server.exited]);
    expect(cc, client.stdout + client.stderr).to.equal(0);
    expect(sc, server.stdout + server.stderr).to.equal(0);
    expect(client.stdout).to.match(/connected 10\.77\.0\.2:(\d+) -> 10\.77\.0\.3:7/);
    expect(client.stdout).to.contain('echo: hello\necho: over the overlay\n');
    const port = /connected 10\.77\.0\.2:(\d+)/.exec(client.stdout)![1];
    expect(server.stdout).to.contain(`accept 10.77.0.2:${port}`);
    expect(server.stdout).to.contain(`close 10.77.0.2:${port}`);
  });

  it('stream-file sends 8 MiB of generated data and both sides agree on the sha256', async function () {
    const f = await pairFlags();
    const receiver = spawnExample('stream-file', [...f.server, '--role', 'receiver', '--port', '5001']);
    await receiver.waitFor(/listening 10\.77\.0\.3 udp=\S+ port=5001/);
    const sender = spawnExample('stream-file', [...f.client, '--role', 'sender', '--port', '5001', '--mib', '8', '--progress', 'lines']);
    const [sc, rc] = await Promise.all([sender.exited, receiver.exited]);
    expect(sc, sender.stdout + sender.stderr).to.equal(0);
    expect(rc, receiver.stdout + receiver.stderr).to.equal(0);
    const sent = /sha256 ([0-9a-f]{64}) \(sent\)/.exec(sender.stdout)?.[1];
    const got = /^sha256 ([0-9a-f]{64})$/m.exec(receiver.stdout)?.[1];
    expect(sent).to.match(/^[0-9a-f]{64}$/);
    expect(got).to.equal(sent);
    expect(receiver.stdout).to.contain(`received ${8 * 1024 * 1024} bytes`);
    expect(sender.stdout).to.contain('sha256 match');
    // Not a terminal: plain progress lines with rate and retransmissions, no bar.
    expect(sender.stdout).to.match(/^progress +\d+% .* Mbit\/s .* retrans \d+/m);
    expect(sender.stdout).to.not.contain('\r');
  });

  it('stream-file refuses a bad flag with one line and exit status 2', async function () {
    const r = spawnExample('stream-file', ['--role', 'both']);
    expect(await r.exited).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.contain("--role: 'both'");
  });

  it('chat --demo: three clients, each message (msgpack-framed) is broadcast to all of them', async function () {
    const r = spawnExample('chat', ['--demo']);
    expect(await r.exited, r.stdout + r.stderr).to.equal(0);
    const names = ['alice', 'bob', 'carol'];
    for (const to of names) {
      for (const from of names) expect(r.stdout).to.match(new RegExp(`^${to} +got \\[${from}\\] hello from ${from}$`, 'm'));
      expect(r.stdout).to.contain(`${to}: 3 messages, all delivered`);
    }
    for (const n of names) expect(r.stdout).to.match(new RegExp(`server: ${n} joined from 10\\.77\\.0\\.\\d+:\\d+`));
  });
});
