/**
 * Issue 12 item 1: updating an impairment keeps every field it does not name, the loss
 * model included. `overlay chaos set loss 0.5 --dir up` run twice against a real proxy must
 * leave Bernoulli loss at 50 % (it used to become Gilbert-Elliott with r = 1, i.e. 33 %), and
 * a rule updated through POST /links/L/toxics/NAME with a new `match` keeps dropping every
 * matching packet. The real loss rate is measured on a seeded stream through the model.
 */
import { expect } from 'chai';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { ChaosModel } from '../../src/chaos/model.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { encodeUdpPacket } from '../../src/wire/udp.js';
import { killAll, runCli } from '../helpers/proc.js';

const A = parseIpv4('10.77.0.2')!;
const B = parseIpv4('10.77.0.3')!;
const LINK = '10.77.0.2-10.77.0.3';

/** Pushes n UDP packets A->B (dst port `port`) through the lane and returns the fraction dropped. */
function lossRate(model: ChaosModel, n: number, port = 9): number {
  const lane = model.lane(LINK, 'up');
  let delivered = 0;
  lane.out = () => delivered++;
  const pkt = encodeUdpPacket({ src: A, dst: B, id: 1 }, { srcPort: 1000, dstPort: port, payload: Buffer.alloc(20) });
  for (let i = 0; i < n; i++) lane.push(pkt, i);
  lane.poll(Infinity);
  return 1 - delivered / n;
}

/** |measured - p| within 6 standard errors of a binomial proportion. */
function expectRate(measured: number, p: number, n: number): void {
  const se = Math.sqrt((p * (1 - p)) / n) || 1 / n;
  expect(Math.abs(measured - p), `loss ${measured.toFixed(4)} vs ${p}`).to.be.at.most(6 * se);
}

describe('newcomer: chaos updates keep the loss model', function () {
  this.timeout(30000);
  let proxy: Proxy | undefined;
  afterEach(async () => {
    await killAll();
    await proxy?.close();
    proxy = undefined;
  });

  it('`overlay chaos set loss 0.5 --dir up` twice stays Bernoulli 50 % (API round trip and seeded stream)', async () => {
    proxy = await createProxy({ listen: '127.0.0.1:0', seed: 11, api: '127.0.0.1:0' });
    const api = `127.0.0.1:${proxy.apiAddress!.port}`;
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['chaos', '--api', api, 'set', 'loss', '0.5', '--dir', 'up']);
      expect(r.code, r.stderr).to.equal(0);
    }
    const toxics = (await (await fetch(`http://${api}/links/%2A/toxics`)).json()) as Array<{ name: string; params: Record<string, unknown> }>;
    const t = toxics.find((x) => x.name === 'loss-up')!;
    expect(t.params.model).to.equal('bernoulli');
    expect(t.params.p).to.equal(0.5);
    expect(t.params).to.not.have.property('r');
    expectRate(lossRate(proxy.model, 100_000), 0.5, 100_000);
  });

  it('a merge that names only p keeps a Gilbert-Elliott model and its r, h, k', () => {
    const model = new ChaosModel({ seed: 5, now: () => 0 });
    model.setImpairment(LINK, 'up', 'loss', { model: 'gilbert-elliott', p: 0.1, r: 0.4, h: 0, k: 1 });
    const [t] = model.setImpairment(LINK, 'up', 'loss', { p: 0.2 }, true);
    expect(t!.params).to.deep.include({ model: 'gilbert-elliott', p: 0.2, r: 0.4, h: 0, k: 1 });
    // Stationary loss p/(p+r) = 0.2/0.6.
    expectRate(lossRate(model, 200_000), 0.2 / 0.6, 20_000);
  });

  it('POST /links/L/toxics/NAME with a new match keeps dropping 100 % of what matches', async () => {
    proxy = await createProxy({ listen: '127.0.0.1:0', seed: 12, api: '127.0.0.1:0' });
    const api = `http://127.0.0.1:${proxy.apiAddress!.port}`;
    let r = await fetch(`${api}/links/${LINK}/toxics`, { method: 'POST', body: JSON.stringify({ name: 'drop9', stage: 'loss', direction: 'up', match: { protocol: 'udp', dstPort: 9 } }) });
    expect(r.status).to.equal(200);
    expect(lossRate(proxy.model, 2000, 9)).to.equal(1);
    r = await fetch(`${api}/links/${LINK}/toxics/drop9`, { method: 'POST', body: JSON.stringify({ match: { protocol: 'udp', dstPort: 7 } }) });
    expect(r.status).to.equal(200);
    const body = (await r.json()) as { params: Record<string, unknown> };
    expect(body.params).to.include({ model: 'bernoulli', p: 1 });
    expect(lossRate(proxy.model, 20_000, 7)).to.equal(1);
    expect(lossRate(proxy.model, 2000, 9)).to.equal(0);
  });

  it('rejects r, h, k together with model bernoulli, and r alone still selects Gilbert-Elliott', () => {
    const model = new ChaosModel({ seed: 5, now: () => 0 });
    expect(() => model.setImpairment(LINK, 'up', 'loss', { model: 'bernoulli', p: 0.1, r: 0.5 })).to.throw(/gilbert-elliott/);
    model.setImpairment(LINK, 'up', 'loss', { p: 0.1 });
    const [t] = model.setImpairment(LINK, 'up', 'loss', { r: 0.5 }, true);
    expect(t!.params).to.deep.include({ model: 'gilbert-elliott', p: 0.1, r: 0.5 });
  });
});
