/**
 * koffi is an optional dependency: where it does not load, hosts send and read one datagram
 * per call, say why in offload(), and move data exactly as with it. A child process runs a
 * transfer (test/helpers/no-koffi-transfer.ts) with koffi made unloadable by a module
 * resolution hook, as on a machine where its install failed.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../helpers/no-koffi-transfer.js', import.meta.url));

/** An --import module that makes require('koffi') fail as for a package that is not installed. */
const HIDE_KOFFI =
  'data:text/javascript,' +
  encodeURIComponent(`import Module from 'node:module';
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'koffi') throw Object.assign(new Error("Cannot find module 'koffi'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};`);

interface Offload {
  segment: number;
  gro: boolean;
  batch: boolean;
  direct: boolean;
  reason?: string;
}

function run(nodeFlags: string[]): Promise<{ a: Offload; b: Offload; intact: boolean; trainsOut: number; link: { packetsIn: number; trainsIn: number; batchReads: number } }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...nodeFlags, SCRIPT], { timeout: 50_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!)),
    );
  });
}

describe('without koffi (the optional dependency)', function () {
  this.timeout(60_000);

  it('hosts send and read one datagram per call, say why, and a transfer arrives intact', async () => {
    const r = await run(['--import', HIDE_KOFFI]);
    expect(r.intact).to.equal(true);
    for (const o of [r.a, r.b]) {
      expect(o.segment).to.equal(0);
      expect(o.gro).to.equal(false);
      expect(o.batch).to.equal(false);
      expect(o.direct).to.equal(false);
      expect(o.reason).to.match(/koffi .*not loadable: Cannot find module 'koffi'/);
    }
    expect(r.link.packetsIn).to.be.greaterThan(5000);
    expect(r.trainsOut).to.equal(0);
    expect(r.link.trainsIn).to.equal(0);
    expect(r.link.batchReads).to.equal(0);
  });

  it('the same transfer with koffi has trains and batched reads (the hook is what takes them away)', async () => {
    const r = await run([]);
    expect(r.intact).to.equal(true);
    expect(r.a).to.deep.equal({ segment: 1472, gro: true, batch: true, direct: true });
    expect(r.trainsOut).to.be.greaterThan(0);
  });
});
