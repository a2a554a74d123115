import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createMetrics, RTT_BUCKETS } from '../../src/metrics/registry.js';
import { emptyTotals, type InventorySource } from '../../src/metrics/inventory.js';
import { connectionLabel, listSockets } from '../../src/metrics/collectors.js';
import type { TcpInfo } from '../../src/tcp/types.js';
import { fakeInfo } from '../helpers/metrics.js';

/** Parses the exposition text into `name{labels} -> value`. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

describe('metrics registry (scrape-time collectors)', () => {
  let conns: TcpInfo[];
  let sources: InventorySource[];
  beforeEach(() => {
    conns = [fakeInfo(), fakeInfo({ localPort: 40001, cwnd: 2864, ssthresh: 2864, state: 'FIN-WAIT-1' })];
    const totals = emptyTotals();
    totals.segmentsIn = 100;
    totals.segmentsOut = 200;
    totals.bytesIn = 1234;
    totals.bytesOut = 5678;
    totals.retransmits.rto = 3;
    totals.retransmits.fast = 4;
    totals.events.active_open = 2;
    sources = [
      {
        host: () => ({ address: '10.77.0.2', packetsIn: 7, packetsOut: 9, bytesIn: 700, bytesOut: 900, drops: { spoofed: 2, ip_fragment: 1 } }),
        tcpConnections: () => conns,
        tcpListeners: () => [{ localAddress: '10.77.0.2', localPort: 80, backlog: 128, synQueue: 0, acceptQueue: 1 }],
        tcpTotals: () => totals,
        udpSockets: () => [{ localAddress: '10.77.0.2', localPort: 53, datagramsIn: 1, datagramsOut: 2, bytesIn: 3, bytesOut: 4 }],
      },
      // A broken source must not break the scrape.
      { tcpConnections: () => { throw new Error('boom'); } },
    ];
  });

  it('exposes per-connection gauges in base units, labelled by connection', async () => {
    const m = createMetrics({ sources: () => sources });
    const s = samples(await m.registry.metrics());
    const c = connectionLabel(conns[0]!);
    expect(c).to.equal('10.77.0.2:40000-10.77.0.3:5001');
    expect(s.get(`overlay_tcp_cwnd_bytes{conn="${c}"}`)).to.equal(14320);
    expect(s.get(`overlay_tcp_srtt_seconds{conn="${c}"}`)).to.be.closeTo(0.0505, 1e-9);
    expect(s.get(`overlay_tcp_rto_seconds{conn="${c}"}`)).to.be.closeTo(0.25, 1e-9);
    expect(s.get(`overlay_tcp_rttvar_seconds{conn="${c}"}`)).to.be.closeTo(0.00325, 1e-9);
    expect(s.get(`overlay_tcp_bytes_in_flight{conn="${c}"}`)).to.equal(999);
    expect(s.get(`overlay_tcp_send_window_bytes{conn="${c}"}`)).to.equal(65535);
    expect(s.get(`overlay_tcp_receive_window_bytes{conn="${c}"}`)).to.equal(131072);
    expect(s.get(`overlay_tcp_ssthresh_bytes{conn="10.77.0.2:40001-10.77.0.3:5001"}`)).to.equal(2864);
    // The initial "infinite" ssthresh has no series (like ss, which hides it).
    expect(s.has(`overlay_tcp_ssthresh_bytes{conn="${c}"}`)).to.equal(false);
  });

  it('computes aggregate counters from the stack totals and host counters', async () => {
    const m = createMetrics({ sources: () => sources });
    const s = samples(await m.registry.metrics());
    expect(s.get('overlay_tcp_retransmitted_segments_total{kind="rto"}')).to.equal(3);
    expect(s.get('overlay_tcp_retransmitted_segments_total{kind="fast"}')).to.equal(4);
    expect(s.get('overlay_tcp_retransmitted_segments_total{kind="tlp"}')).to.equal(0);
    expect(s.get('overlay_tcp_segments_total{direction="in"}')).to.equal(100);
    expect(s.get('overlay_tcp_bytes_total{direction="out"}')).to.equal(5678);
    expect(s.get('overlay_tcp_connection_events_total{event="active_open"}')).to.equal(2);
    expect(s.get('overlay_ip_packets_total{direction="out"}')).to.equal(9);
    expect(s.get('overlay_ip_dropped_packets_total{reason="spoofed"}')).to.equal(2);
    expect(s.get('overlay_ip_dropped_packets_total{reason="ip_fragment"}')).to.equal(1);
    expect(s.get('overlay_ip_dropped_packets_total{reason="no_route"}')).to.equal(0);
    expect(s.get('overlay_tcp_connections{state="ESTABLISHED"}')).to.equal(1);
    expect(s.get('overlay_tcp_connections{state="FIN-WAIT-1"}')).to.equal(1);
    expect(s.get('overlay_tcp_connections{state="LISTEN"}')).to.equal(1);
    expect(s.get('overlay_tcp_connections{state="TIME-WAIT"}')).to.equal(0);
    expect(s.get('overlay_udp_sockets')).to.equal(1);
  });

  it('counters follow the totals between scrapes, and closed connections lose their series', async () => {
    const m = createMetrics({ sources: () => sources });
    await m.registry.metrics();
    sources[0]!.tcpTotals = () => ({ ...emptyTotals(), segmentsIn: 150 });
    conns.pop();
    await new Promise((r) => setImmediate(r));
    const text = await m.registry.metrics();
    const s = samples(text);
    expect(s.get('overlay_tcp_segments_total{direction="in"}')).to.equal(150);
    expect(text).to.not.contain('40001');
    expect(text).to.contain('40000');
  });

  it('gives TIME-WAIT connections no per-connection series (they are only counted by state)', async () => {
    conns.push(fakeInfo({ localPort: 40009, state: 'TIME-WAIT' }));
    const text = await createMetrics({ sources: () => sources }).registry.metrics();
    expect(text).to.not.contain('40009');
    expect(samples(text).get('overlay_tcp_connections{state="TIME-WAIT"}')).to.equal(1);
  });

  it('caps per-connection series and reports the rest', async () => {
    conns = Array.from({ length: 10 }, (_, i) => fakeInfo({ localPort: 41000 + i }));
    const m = createMetrics({ sources: () => sources, maxConnections: 4 });
    const text = await m.registry.metrics();
    const cw = text.split('\n').filter((l) => l.startsWith('overlay_tcp_cwnd_bytes{'));
    expect(cw).to.have.length(4);
    expect(samples(text).get('overlay_tcp_connections_unlabelled')).to.equal(6);
  });

  it('feeds the RTT histogram with buckets from 50 us to 4 s', async () => {
    const m = createMetrics({ sources: () => [] });
    m.observeRtt(0.00004);
    m.observeRtt(0.03);
    m.observeRtt(9);
    const s = samples(await m.registry.metrics());
    expect(RTT_BUCKETS[0]).to.equal(0.00005);
    expect(RTT_BUCKETS[RTT_BUCKETS.length - 1]).to.equal(4);
    expect(s.get('overlay_tcp_rtt_seconds_bucket{le="0.00005"}')).to.equal(1);
    expect(s.get('overlay_tcp_rtt_seconds_bucket{le="0.05"}')).to.equal(2);
    expect(s.get('overlay_tcp_rtt_seconds_bucket{le="4"}')).to.equal(2);
    expect(s.get('overlay_tcp_rtt_seconds_bucket{le="+Inf"}')).to.equal(3);
    expect(s.get('overlay_tcp_rtt_seconds_count')).to.equal(3);
  });

  it('lists every socket with proto and kind for /connections', () => {
    const list = listSockets(sources);
    expect(list.map((e) => `${e.proto}/${e.kind}`)).to.deep.equal(['tcp/listener', 'tcp/connection', 'tcp/connection', 'udp/socket']);
    const c = list[1]!;
    expect(c.kind === 'connection' && c.conn).to.equal('10.77.0.2:40000-10.77.0.3:5001');
    expect(c.kind === 'connection' && c.cwnd).to.equal(14320);
  });

  it('passes promtool check metrics', async function () {
    if (!existsSync('/usr/bin/promtool')) {
      console.log('skipped: promtool not installed at /usr/bin/promtool');
      this.skip();
    }
    const m = createMetrics({ sources: () => sources });
    m.observeRtt(0.01);
    const text = await m.registry.metrics();
    const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10000 });
    expect(r.stdout + r.stderr, 'promtool output').to.equal('');
    expect(r.status).to.equal(0);
  });

  it('promtool catches a badly named counter (the check can fail)', async function () {
    if (!existsSync('/usr/bin/promtool')) {
      console.log('skipped: promtool not installed at /usr/bin/promtool');
      this.skip();
    }
    const bad = '# HELP overlay_bad_ms A counter.\n# TYPE overlay_bad_ms counter\noverlay_bad_ms 1\n';
    const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: bad, encoding: 'utf8', timeout: 10000 });
    expect(r.status).to.not.equal(0);
  });
});
