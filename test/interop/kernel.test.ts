/**
 * The Linux kernel's TCP as the peer: runs test/interop/kernel-run.js in a private network
 * namespace, the kernel reached through FOU where the kernel has it and through the project's
 * TUN bridge (tools/kernel-peer) otherwise, and asserts each case it reports. Prints which
 * path it used and why FOU was not; skips (with the reason printed) where neither works:
 * not root, no python3/ip/unshare, no FOU and no /dev/net/tun.
 */
import { expect } from 'chai';
import { type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { planKernelPeer, spawnInNetns, type CaseResult } from '../helpers/kernel-peer.js';

const RUNNER = fileURLToPath(new URL('./kernel-run.js', import.meta.url));
const CASES = ['overlay-client-to-kernel-sink', 'kernel-source-to-overlay-server', 'overlay-echo-via-kernel'];

describe('interop with the Linux kernel TCP (kernel-peer)', function () {
  this.timeout(120_000);
  let child: ChildProcess | undefined;
  let results: CaseResult[] = [];
  let runError: string | undefined;

  before(async function () {
    const plan = planKernelPeer();
    for (const n of plan.notes) console.log(`      ${n}`);
    if (!plan.mode) {
      console.log(`      skipped: ${plan.skip}`);
      this.skip();
    }
    console.log(`      kernel peer via ${plan.mode === 'fou' ? 'FOU' : "the project's TUN bridge"}`);
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawnInNetns(plan.mode!, process.execPath, [RUNNER]);
      child = p;
      let stdout = '';
      let stderr = '';
      p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 110_000);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    child = undefined;
    if (out.code !== 0 && /unshare: /.test(out.stderr)) {
      // unshare itself could not make a namespace (e.g. a restricted container).
      console.log(`      skipped: no private network namespace: ${out.stderr.trim().split('\n').pop()}`);
      this.skip();
    }
    results = out.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as CaseResult);
    if (results.length === 0) runError = `runner exited ${out.code} with no result; stderr: ${out.stderr.slice(-1500)}`;
  });

  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  for (const name of CASES) {
    it(name, () => {
      expect(runError, runError).to.equal(undefined);
      const r = results.find((x) => x.case === name);
      expect(r, `no result line for ${name}`).to.not.equal(undefined);
      expect(r!.ok, r!.detail ?? '').to.equal(true);
      expect(r!.gotSha256).to.equal(r!.expectedSha256);
      expect(r!.bytes).to.be.greaterThan(0);
    });
  }
});
