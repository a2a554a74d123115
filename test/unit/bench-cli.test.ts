import { expect } from 'chai';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMain } from '../../bench/lib/cli.js';

describe('bench/lib/cli isMain', () => {
  const self = fileURLToPath(import.meta.url);
  const argv1 = process.argv[1];
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
  });
  after(() => {
    process.argv[1] = argv1!;
    rmSync(dir, { recursive: true, force: true });
  });

  it('is true for the script node started, also when started through a symlink (a symlinked dist/)', () => {
    process.argv[1] = self;
    expect(isMain(pathToFileURL(self).href)).to.equal(true);
    const link = join(dir, 'linked.js');
    symlinkSync(self, link);
    process.argv[1] = link;
    expect(isMain(pathToFileURL(self).href)).to.equal(true);
  });

  it('is false for another module, and for a missing argv[1] path', () => {
    process.argv[1] = self;
    expect(isMain(pathToFileURL(join(dir, 'other.js')).href)).to.equal(false);
    process.argv[1] = join(dir, 'missing.js');
    expect(isMain(pathToFileURL(self).href)).to.equal(false);
  });
});
