/**
 * The Linux kernel's TCP as the peer: runs test/interop/kernel-run.js inside the shared
 * kernel-peer namespace wrapper and asserts each case it reports. Skips (with the reason
 * printed) where the prerequisites are missing: root, /dev/net/tun, python3, ip, unshare,
 * and ../shared/tools/kernel-peer beside the project.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelPeerDir, missingPrerequisite, type CaseResult } from '../helpers/kernel-peer.js';

const RUNNER = fileURLToPath(new URL('./kernel-run.js', import.meta.url));
const CASES = ['overlay-client-to-kernel-sink', 'kernel-source-to-overlay-server', 'overlay-echo-via-kernel'];

describe('interop with the Linux kernel TCP (kernel-peer)', function () {
  this.timeout(120_000);
  let child: ChildProcess | undefined;
  let results: CaseResult[] = [];
  let runError: string | undefined;

  before(async function () {
    const missing = missingPrerequisite();
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(join(kernelPeerDir(), 'in-netns.sh'), [process.execPath, RUNNER], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    if (out.code === 125) {
      // The wrapper itself could not make a namespace (e.g. a restricted container).
      console.log(`      skipped: in-netns.sh could not create a namespace: ${out.stderr.trim().split('\n').pop()}`);
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
