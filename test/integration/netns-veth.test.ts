/**
 * Streaming between machines, for real: two network namespaces joined by a veth pair
 * stand in for two machines on an Ethernet segment. The receiving overlay host runs in
 * namespace B on 192.168.213.2, the sender in namespace A on 192.168.213.1; 50 MiB cross
 * the veth inside IP-in-UDP and must arrive with the same sha256. The veth counters show
 * that the bytes really crossed the interface (not loopback).
 *
 * Needs root and iproute2; otherwise prints `skipped: <reason>` and skips.
 */
import { expect } from 'chai';
import {
  createNetnsPair, examplePath, killTracked, netnsUnavailableReason, removeStaleNamespaces, track, type NetnsPair,
} from '../helpers/netns.js';

const EXAMPLE = examplePath('stream-file');
const MIB = 50;
const UDP_PORT_A = 40002;
const UDP_PORT_B = 40003;

describe('streaming between machines (two network namespaces, veth)', function () {
  this.timeout(60_000);
  let pair: NetnsPair | undefined;

  before(function () {
    const reason = netnsUnavailableReason();
    if (reason) {
      console.log(`skipped: ${reason}`);
      this.skip();
    }
    removeStaleNamespaces();
    pair = createNetnsPair();
  });

  after(async function () {
    await killTracked();
    pair?.destroy();
  });

  it(`streams ${MIB} MiB from namespace A to namespace B over the veth with matching sha256`, async function () {
    const p = pair!;
    const before = p.counters(p.b);
    const receiver = track(
      p.spawn(p.b, process.execPath, [
        EXAMPLE, '--role', 'receiver', '--addr', '10.77.0.3', '--udp', `${p.addrB}:${UDP_PORT_B}`,
        '--peer', `10.77.0.2=${p.addrA}:${UDP_PORT_A}`, '--port', '5001',
      ]),
    );
    await receiver.waitFor(/listening 10\.77\.0\.3 udp=192\.168\.213\.2:40003/, 10_000);

    const sender = track(
      p.spawn(p.a, process.execPath, [
        EXAMPLE, '--role', 'sender', '--addr', '10.77.0.2', '--udp', `${p.addrA}:${UDP_PORT_A}`,
        '--peer', `10.77.0.3=${p.addrB}:${UDP_PORT_B}`, '--server', '10.77.0.3', '--port', '5001',
        '--mib', String(MIB), '--progress', 'none',
      ]),
    );
    const [sc, rc] = await Promise.all([sender.exited, receiver.exited]);
    expect(sc, `sender: ${sender.stdout}${sender.stderr}`).to.equal(0);
    expect(rc, `receiver: ${receiver.stdout}${receiver.stderr}`).to.equal(0);

    const sent = /sha256 ([0-9a-f]{64}) \(sent\)/.exec(sender.stdout)?.[1];
    const got = /^sha256 ([0-9a-f]{64})$/m.exec(receiver.stdout)?.[1];
    expect(sent, sender.stdout).to.match(/^[0-9a-f]{64}$/);
    expect(got, receiver.stdout).to.equal(sent);
    expect(receiver.stdout).to.contain(`received ${MIB * 1024 * 1024} bytes`);
    expect(sender.stdout).to.contain('sha256 match');

    // The bytes crossed the veth: B's interface received at least the payload.
    const after = p.counters(p.b);
    expect(after.rxBytes - before.rxBytes).to.be.at.least(MIB * 1024 * 1024);
  });
});
