/**
 * The live view in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; no browser is ever downloaded) opens the pages of a real run,
 *
 *   sender (overlay cat) ──UDP──> overlay proxy (--api, --metrics) ──UDP──> receiver (overlay cat -l)
 *
 * sees the charts receive data, moves the proxy page's loss control, and sees the proxy's
 * loss change (its API, and a second open proxy page) and the sender's retransmissions
 * rise. A screenshot of each page is kept in the OS temp dir (the paths are printed).
 * Skips, saying why, where Chromium or playwright-core is missing or Chromium cannot start.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CLI_PATH, killAll, spawnCli, type CliChild } from '../helpers/proc.js';
import { freeTcpPort, waitUntil } from '../helpers/prometheus.js';
import { freeUdpPorts } from '../helpers/netns.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

type Playwright = typeof import('playwright-core');
type Context = Awaited<ReturnType<Playwright['chromium']['launchPersistentContext']>>;
type Page = Awaited<ReturnType<Context['newPage']>>;

/** Launches Chromium with a fresh profile dir, or returns why it cannot run here. */
export async function launchChromium(profile: string): Promise<Context | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)`;
  let pw: Playwright;
  try {
    pw = await import('playwright-core');
  } catch (e) {
    return `playwright-core is not installed: ${(e as Error).message}`;
  }
  try {
    return await pw.chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1400, height: 1000 },
      timeout: 30_000,
    });
  } catch (e) {
    return `Chromium cannot start here: ${(e as Error).message.split('\n')[0]}`;
  }
}

interface Row {
  proto: string;
  kind: string;
  conn?: string;
  state?: string;
  bytesAcked?: number;
  retransmits?: Record<string, number>;
}

const retransTotal = (r: Row): number => Object.values(r.retransmits ?? {}).reduce((a, b) => a + b, 0);

describe('live view in headless Chromium (proxy + cat)', function () {
  this.timeout(120_000);
  let proxy: CliChild;
  let receiver: ChildProcess | undefined;
  let sender: ChildProcess | undefined;
  let senderUrl = '';
  let receiverUrl = '';
  let proxyPortUsed = 0;
  let sender2: ChildProcess | undefined;
  let senderErr = '';
  let receiverErr = '';
  let proxyUrl = '';
  let apiUrl = '';
  let profile = '';
  let chrome: Context | undefined;
  let feeding = true;

  before(async function () {
    profile = mkdtempSync(join(tmpdir(), 'overlay-live-chromium-'));
    const c = await launchChromium(profile);
    if (typeof c === 'string') {
      console.log(`      skipped: ${c}`);
      this.skip();
    }
    chrome = c;
    const [proxyPort, recvPort, sendPort] = (await freeUdpPorts(3)) as [number, number, number];
    proxy = spawnCli([
      'proxy', '--listen', `127.0.0.1:${proxyPort}`,
      '--peer', `10.77.0.3=127.0.0.1:${recvPort}`, '--peer', `10.77.0.2=127.0.0.1:${sendPort}`,
      '--delay', '5', '--rate', '40mbit', '--queue', '1000',
      '--api', '127.0.0.1:0', '--metrics', '127.0.0.1:0',
    ]);
    const ready = await proxy.waitFor(/READY proxy .* api=([\d.]+:\d+) metrics=([\d.]+:\d+)/, { stream: 'stdout' });
    apiUrl = `http://${ready[1]}`;
    proxyUrl = `http://${ready[2]}/`;
    const recvMetrics = await freeTcpPort();
    receiver = spawn(process.execPath, [CLI_PATH, 'cat', '--addr', '10.77.0.3', '--udp', `127.0.0.1:${recvPort}`, '--peer', `10.77.0.0/16=127.0.0.1:${proxyPort}`, '-k', '-l', '5000', '--metrics', `127.0.0.1:${recvMetrics}`], { stdio: ['pipe', 'ignore', 'pipe'] });
    receiver.stdin!.on('error', () => {});
    receiverUrl = `http://127.0.0.1:${recvMetrics}/`;
    proxyPortUsed = proxyPort;
    const sendMetrics = await freeTcpPort();
    senderUrl = `http://127.0.0.1:${sendMetrics}/`;
    sender = spawn(process.execPath, [CLI_PATH, 'cat', '--addr', '10.77.0.2', '--udp', `127.0.0.1:${sendPort}`, '--peer', `10.77.0.0/16=127.0.0.1:${proxyPort}`, '--metrics', `127.0.0.1:${sendMetrics}`, '10.77.0.3', '5000'], { stdio: ['pipe', 'ignore', 'pipe'] });
    sender.stdin!.on('error', () => {});
    sender.stderr!.setEncoding('utf8').on('data', (d: string) => (senderErr += d));
    receiver.stderr!.setEncoding('utf8').on('data', (d: string) => (receiverErr += d));
    // Feed the sender for as long as the test runs (bounded: at most 400 MiB).
    const chunk = randomBytes(64 * 1024);
    let fed = 0;
    const feed = (): void => {
      while (feeding && fed < 400 * 1024 * 1024) {
        fed += chunk.length;
        if (!sender!.stdin!.write(chunk)) return void sender!.stdin!.once('drain', feed);
      }
    };
    feed();
    await waitUntil(async () => {
      try {
        const rows = (await (await fetch(`${senderUrl}connections`)).json()) as Row[];
        return rows.some((r) => r.kind === 'connection' && r.state === 'ESTABLISHED' && (r.bytesAcked ?? 0) > 100_000);
      } catch {
        return false;
      }
    }, 30_000, 'the sender to be connected and sending').catch((e: Error) => {
      throw new Error(`${e.message}; sender stderr: ${senderErr.slice(-300)}; receiver stderr: ${receiverErr.slice(-300)}`);
    });
  });

  after(async () => {
    feeding = false;
    await chrome?.close().catch(() => {});
    for (const p of [sender, sender2, receiver]) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await killAll();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const open = async (url: string): Promise<Page> => {
    const page = await chrome!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    (page as unknown as { errors: string[] }).errors = errors;
    return page;
  };
  // The page's own state (window.overlayLive), read with string expressions: the tests have no DOM types.
  const frames = (p: Page): Promise<number> => p.evaluate('window.overlayLive.frames') as Promise<number>;
  const shot = async (p: Page, name: string): Promise<void> => {
    const path = join(tmpdir(), `overlay-live-${name}-${process.pid}.png`);
    await p.screenshot({ path, fullPage: true });
    console.log(`      screenshot: ${path}`);
  };

  it('the sender page receives >= 4 frames/s, charts fill, and it shows /connections numbers', async () => {
    const page = await open(senderUrl);
    await page.waitForFunction('window.overlayLive.frames >= 2', undefined, { timeout: 10_000 });
    const f0 = await frames(page);
    const t0 = Date.now();
    await page.waitForFunction(`window.overlayLive.frames >= ${f0 + 10}`, undefined, { timeout: 10_000 });
    const rate = ((await frames(page)) - f0) / ((Date.now() - t0) / 1000);
    expect(rate, 'frames per second').to.be.at.least(4);
    // The charts hold data: windows, RTT, goodput samples and time-sequence events.
    const counts = (await page.evaluate(
      `({ cwnd: window.overlayLive.charts['ch-cwnd'].data[0].length, rtt: window.overlayLive.charts['ch-rtt'].data[0].length, seq: window.overlayLive.seqPoints() })`,
    )) as { cwnd: number; rtt: number; seq: number };
    expect(counts.cwnd).to.be.at.least(5);
    expect(counts.rtt).to.be.at.least(5);
    expect(counts.seq).to.be.at.least(50);
    // The picker chose the sending connection, the one /connections lists.
    const rows = (await (await fetch(`${senderUrl}connections`)).json()) as Row[];
    const conn = rows.find((r) => r.kind === 'connection')!;
    expect(await page.evaluate('window.overlayLive.selected')).to.equal(conn.conn);
    expect(await page.textContent('[data-f="state"]')).to.contain('ESTABLISHED');
    expect(await page.textContent('[data-f="cc"]')).to.equal((conn as { cc?: string }).cc);
    // Pause freezes the charts (uPlot holds a copy) while frames keep arriving; Resume catches up.
    const points = async (): Promise<number> => (await page.evaluate(`window.overlayLive.charts['ch-cwnd'].data[0].length`)) as number;
    await page.click('#pause');
    const frozen = await points();
    const f1 = await frames(page);
    await page.waitForFunction(`window.overlayLive.frames >= ${f1 + 4}`, undefined, { timeout: 10_000 });
    expect(await points(), 'paused charts do not move').to.equal(frozen);
    expect(await page.textContent('#status')).to.equal('paused');
    await page.click('#pause');
    expect(await points(), 'resumed charts show what arrived meanwhile').to.be.at.least(frozen + 4);
    expect((page as unknown as { errors: string[] }).errors).to.deep.equal([]);
    await shot(page, 'sender');
    await page.close();
  });

  it('moving the loss control changes the proxy (API and another open page) and the sender retransmits', async () => {
    const sPage = await open(senderUrl);
    const pPage = await open(proxyUrl);
    const watcher = await open(proxyUrl);
    for (const p of [sPage, pPage, watcher]) await p.waitForFunction('window.overlayLive.frames >= 3', undefined, { timeout: 10_000 });
    expect(await pPage.isEnabled('#c-loss'), 'controls enabled with --api').to.equal(true);
    expect(await pPage.textContent('#o-loss')).to.equal('0.0 %');
    const retrans = async (): Promise<number> => Number(await sPage.getAttribute('[data-f="retransmits"]', 'data-total'));
    const before = await retrans();
    // The connection is lossless so far (no loss, a queue far above the window): nothing to retransmit.
    await pPage.fill('#c-loss', '0.1');
    await waitUntil(async () => {
      const links = (await (await fetch(`${apiUrl}/links`)).json()) as Array<{ toxics: Array<{ stage: string; params: { p?: number } }> }>;
      return links.some((l) => l.toxics.some((t) => t.stage === 'loss' && t.params.p === 0.1));
    }, 5_000, 'the proxy API to show loss 0.1');
    await watcher.waitForFunction(`document.getElementById('o-loss').textContent === '10.0 %'`, undefined, { timeout: 5_000 });
    await sPage.waitForFunction(
      `Number(document.querySelector('[data-f="retransmits"]').getAttribute('data-total')) >= ${before + 20}`,
      undefined,
      { timeout: 20_000 },
    );
    const dropped = (await pPage.evaluate(
      `[...document.querySelectorAll('td[data-f="dropped"]')].reduce((a, td) => a + Number(td.textContent), 0)`,
    )) as number;
    expect(dropped, 'the proxy page counts the drops').to.be.greaterThan(0);
    console.log(`      retransmissions ${before} -> ${await retrans()}, proxy drops ${dropped}`);
    await shot(sPage, 'sender-loss');
    await shot(pPage, 'proxy');
    for (const p of [sPage, pPage, watcher]) expect((p as unknown as { errors: string[] }).errors).to.deep.equal([]);
    // Back to no loss: the control clears the stage.
    await pPage.fill('#c-loss', '0');
    await watcher.waitForFunction(`document.getElementById('o-loss').textContent === '0.0 %'`, undefined, { timeout: 5_000 });
  });

  it('the delay, jitter, rate, queue and partition controls change the proxy through its API', async () => {
    const page = await open(proxyUrl);
    await page.waitForFunction('window.overlayLive.frames >= 2', undefined, { timeout: 10_000 });
    type Toxic = { stage: string; direction: string; params: Record<string, unknown> };
    const toxics = async (): Promise<Toxic[]> => (await (await fetch(`${apiUrl}/links/%2A/toxics`)).json()) as Toxic[];
    const until = (what: string, ok: (t: Toxic[]) => boolean): Promise<void> => waitUntil(async () => ok(await toxics()), 5_000, what);
    const up = (t: Toxic[], stage: string): Toxic | undefined => t.find((x) => x.stage === stage && x.direction === 'up');
    await page.fill('#c-delay', '30');
    await until('delay 30 ms', (t) => up(t, 'delay')?.params.ms === 30);
    await page.fill('#c-jitter', '4');
    await until('jitter 4 ms, delay kept', (t) => up(t, 'delay')?.params.jitter === 4 && up(t, 'delay')?.params.ms === 30);
    await page.fill('#c-rate', '10');
    await until('rate 10 Mbit/s', (t) => up(t, 'bottleneck')?.params.rate === 10e6);
    await page.fill('#c-queue', '50');
    await until('queue 50 packets', (t) => up(t, 'bottleneck')?.params.queue === 50 && up(t, 'bottleneck')?.params.rate === 10e6);
    await page.check('#c-partition');
    await until('a partition', (t) => up(t, 'partition') !== undefined);
    await page.waitForFunction(`document.getElementById('o-queue').textContent === '50 pkts'`, undefined, { timeout: 5_000 });
    await page.uncheck('#c-partition');
    await until('no partition', (t) => up(t, 'partition') === undefined);
    // Back to the starting path for the next test.
    await page.fill('#c-delay', '5');
    await page.fill('#c-jitter', '0');
    await page.fill('#c-rate', '40');
    await page.fill('#c-queue', '1000');
    await until('the starting path', (t) => up(t, 'delay')?.params.ms === 5 && up(t, 'bottleneck')?.params.queue === 1000);
    expect(await page.textContent('#c-note')).to.equal('');
    expect((page as unknown as { errors: string[] }).errors).to.deep.equal([]);
  });

  it('connections coming and going: the receiver page marks a closed connection gone and follows a new one', async () => {
    const page = await open(receiverUrl);
    await page.waitForFunction(`window.overlayLive.selected !== ''`, undefined, { timeout: 10_000 });
    const first = (await page.evaluate('window.overlayLive.selected')) as string;
    // The first sender finishes: its data ends, the connection closes.
    feeding = false;
    sender!.stdin!.end();
    receiver!.stdin!.end();
    // Both ends close; the one that closed first ends in TIME-WAIT, then its row goes.
    const closed = `[...document.querySelectorAll('#conn option')].some((o) => o.value === ${JSON.stringify(first)} && /\\(gone\\)|TIME-WAIT|CLOSED/.test(o.textContent))`;
    await page.waitForFunction(closed, undefined, { timeout: 30_000 });
    // A second sender (another overlay address; the proxy learns its route) connects.
    sender2 = spawn(process.execPath, [CLI_PATH, 'cat', '--addr', '10.77.0.4', '--peer', `10.77.0.0/16=127.0.0.1:${proxyPortUsed}`, '10.77.0.3', '5000'], { stdio: ['pipe', 'ignore', 'pipe'] });
    sender2.stdin!.on('error', () => {});
    let sender2Err = '';
    sender2.stderr!.setEncoding('utf8').on('data', (d: string) => (sender2Err += d));
    sender2.stdin!.write(randomBytes(4 * 1024 * 1024));
    await page.waitForFunction(`window.overlayLive.selected.includes('10.77.0.4:')`, undefined, { timeout: 30_000 }).catch(async (e: Error) => {
      const opts = await page.evaluate(`[...document.querySelectorAll('#conn option')].map((o) => o.textContent).join(' | ')`).catch(() => '?');
      const rows = await (await fetch(`${receiverUrl}connections`)).text().catch(() => '?');
      throw new Error(`${e.message.split('\n')[0]}; picker: ${String(opts)}; sender2: ${sender2Err.slice(-300)} (exit ${sender2!.exitCode}); receiver exit ${receiver!.exitCode} ${receiverErr.slice(-200)}; receiver rows: ${rows.slice(0, 600)}`);
    });
    const options = (await page.evaluate(`[...document.querySelectorAll('#conn option')].map((o) => o.textContent)`)) as string[];
    expect(options.some((o) => o.startsWith(first) && /\(gone\)|TIME-WAIT|CLOSED/.test(o))).to.equal(true);
    expect(options.some((o) => o.includes('10.77.0.4:') && !o.includes('(gone)'))).to.equal(true);
    // The receiving side's time-sequence graph shows the segments it receives.
    await page.waitForFunction('window.overlayLive.seqPoints() >= 20', undefined, { timeout: 10_000 });
    await shot(page, 'receiver');
    expect((page as unknown as { errors: string[] }).errors).to.deep.equal([]);
  });
});
