/**
 * The lecture's SYN-flood demo (examples/syn-flood.ts) as a child process: it must show the
 * SYN queue filling, SYN cookies being issued, and the legitimate client getting through,
 * and exit 0. A bad flag is one line on stderr and exit status 2.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const EXAMPLE = fileURLToPath(new URL('../../examples/syn-flood.js', import.meta.url));

function runExample(args: string[], timeoutMs: number): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [EXAMPLE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

describe('examples/syn-flood.ts (the denial-of-service demo)', function () {
  this.timeout(40_000);
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('SYN queue full -> SYN cookies -> the legitimate client still connects; counters printed', async () => {
    const r = runExample(['--syns', '20000', '--rate', '20000', '--backlog', '8'], 35_000);
    children.push(r.child);
    const { code, stdout, stderr } = await r.done;
    expect(code, `exit status; stderr: ${stderr}`).to.equal(0);
    const peak = /peak SYN queue\s+(\d+) \(limit (\d+)/.exec(stdout);
    expect(peak, stdout).to.not.equal(null);
    expect(Number(peak![1]), 'the flood filled the SYN queue').to.equal(Number(peak![2]));
    const cookies = /SYN cookies issued\s+(\d+)/.exec(stdout);
    expect(Number(cookies?.[1] ?? 0), 'cookies issued').to.be.above(100);
    expect(stdout).to.match(/legitimate client: connected and echoed in \d+ ms despite the flood/);
    expect(stdout).to.match(/flood done: 20000 SYNs/);
  });

  it('a bad flag is one line on stderr and exit status 2', async () => {
    const r = runExample(['--rate', 'fast'], 10_000);
    children.push(r.child);
    const { code, stderr } = await r.done;
    expect(code).to.equal(2);
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.match(/^syn-flood: /);
  });
});
