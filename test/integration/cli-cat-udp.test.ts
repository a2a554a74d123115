/** `overlay cat -u` between two processes: lines become datagrams both ways. */
import { expect } from 'chai';
import { killAll, runCli, spawnCli } from '../helpers/proc.js';

const LISTEN_RE = /listening (\S+) udp=([\d.]+):(\d+) port=(\d+)/;

describe('integration: overlay cat -u (CLI, two processes)', function () {
  this.timeout(20_000);
  afterEach(killAll);

  it('carries stdin lines to the listener and the listener answers the last sender', async () => {
    const server = spawnCli(['cat', '-u', '-l', '7', '--addr', '10.77.0.3', '--learn']);
    const m = await server.waitFor(LISTEN_RE);
    expect(m[4]).to.equal('7');
    const client = spawnCli(['cat', '-u', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[2]}:${m[3]}`, '10.77.0.3', '7']);
    await client.waitFor(LISTEN_RE);
    client.proc.stdin!.write('hello over the overlay\n');
    await server.waitFor(/hello over the overlay\n/, { stream: 'stdout' });
    server.proc.stdin!.write('and back\n');
    await client.waitFor(/and back\n/, { stream: 'stdout' });
    client.proc.stdin!.write('second line\nthird line\n');
    await server.waitFor(/second line\nthird line\n/, { stream: 'stdout' });
  });

  it('-q quits after EOF on stdin', async () => {
    const server = spawnCli(['cat', '-u', '-l', '7', '--addr', '10.77.0.3', '--learn']);
    const m = await server.waitFor(LISTEN_RE);
    const r = await runCli(['cat', '-u', '-q', '0.1', '--addr', '10.77.0.2', '--peer', `10.77.0.0/24=${m[2]}:${m[3]}`, '10.77.0.3', '7'], {
      input: 'one shot\n',
    });
    expect(r.code, r.stderr).to.equal(0);
    await server.waitFor(/one shot\n/, { stream: 'stdout' });
  });

  it('SIGTERM shuts a listener down cleanly', async () => {
    const server = spawnCli(['cat', '-u', '-l', '7', '--addr', '10.77.0.3']);
    await server.waitFor(LISTEN_RE);
    server.kill('SIGTERM');
    const r = await server.exited;
    expect(r.code).to.equal(0);
  });

  it('rejects bad arguments with one line and exit 2', async () => {
    for (const args of [
      ['cat', '-u', '--addr', '10.77.0.2', '10.77.0.3'],
      ['cat', '-u', '--addr', '10.77.0.2', '10.77.0.3', '99999'],
      ['cat', '-u', '--addr', '10.77.0.2', '--udp', 'nonsense', '10.77.0.3', '7'],
      ['cat', '-u', '--addr', '10.77.0.2', '-l', 'x.y', '7'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(/^overlay: /);
    }
  });
});
