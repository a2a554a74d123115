/**
 * The lecture's UDP socket programs as separate processes: each its own overlay host on
 * its own real UDP port on 127.0.0.1.
 */
import { expect } from 'chai';
import { freeUdpPorts, killTracked, spawnExample } from '../helpers/netns.js';

describe('examples: UDP echo server and client', function () {
  this.timeout(15_000);
  afterEach(killTracked);

  it('the client sendto()s each word and prints the echo recvfrom() the server process', async function () {
    const [sp, cp] = await freeUdpPorts(2);
    const server = spawnExample('udp-echo-server', [
      '--udp', `127.0.0.1:${sp}`, '--peer', `10.77.0.2=127.0.0.1:${cp}`, '--port', '7', '--count', '2',
    ]);
    await server.waitFor(/listening 10\.77\.0\.3 udp=127\.0\.0\.1:\d+ port=7/);
    const client = spawnExample('udp-echo-client', [
      '--udp', `127.0.0.1:${cp}`, '--peer', `10.77.0.3=127.0.0.1:${sp}`, 'hello', 'overlay world',
    ]);
    const [cc, sc] = await Promise.all([client.exited, server.exited]);
    expect(cc, client.stderr).to.equal(0);
    expect(sc, server.stderr).to.equal(0);
    expect(client.stdout).to.match(/10\.77\.0\.2:\d+ -> 10\.77\.0\.3:7 echo: hello\n/);
    expect(client.stdout).to.match(/-> 10\.77\.0\.3:7 echo: overlay world\n/);
    expect(server.stdout).to.match(/recvfrom 10\.77\.0\.2:(\d+) 5 bytes: "hello"/);
    // The client's port is an ephemeral one (49152-65535), picked at its first sendto().
    const port = Number(/recvfrom 10\.77\.0\.2:(\d+)/.exec(server.stdout)![1]);
    expect(port).to.be.within(49152, 65535);
  });

  it('the client gives up with exit status 1 when no server answers (UDP has no connection)', async function () {
    const [sp, cp] = await freeUdpPorts(2);
    const client = spawnExample('udp-echo-client', [
      '--udp', `127.0.0.1:${cp}`, '--peer', `10.77.0.3=127.0.0.1:${sp}`, '--timeout', '100', '--retries', '1', 'lost',
    ]);
    expect(await client.exited).to.equal(1);
    expect(client.stdout).to.contain('no echo for "lost" after 2 tries');
  });
});
