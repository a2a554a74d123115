/**
 * The SOCKS5 codec of src/apps/socks.ts: greetings, RFC 1929 credentials and requests
 * parsed byte by byte (undefined until complete), replies, the hosts and auth files.
 */
import { expect } from 'chai';
import { encodeReply, parseAuthFile, parseGreeting, parseHostsFile, parseRequest, parseUserPass, SocksProtocolError } from '../../src/apps/socks.js';

/** Feeds every prefix of `b`: all but the full buffer must ask for more. */
function onlyWhole<T>(parse: (b: Buffer) => { value: T; used: number } | undefined, b: Buffer): { value: T; used: number } {
  for (let i = 0; i < b.length; i++) expect(parse(b.subarray(0, i)), `prefix of ${i} bytes`).to.equal(undefined);
  const r = parse(Buffer.concat([b, Buffer.from([0xee])]))!;
  expect(r.used).to.equal(b.length);
  return r;
}

describe('SOCKS5 codec', () => {
  it('parses greetings and rejects other versions', () => {
    expect(onlyWhole(parseGreeting, Buffer.from([5, 2, 0, 2])).value).to.deep.equal([0, 2]);
    expect(() => parseGreeting(Buffer.from([4, 1, 0]))).to.throw(SocksProtocolError);
    expect(() => parseGreeting(Buffer.from([5, 0]))).to.throw(SocksProtocolError);
  });

  it('parses RFC 1929 credentials', () => {
    const b = Buffer.concat([Buffer.from([1, 5]), Buffer.from('alice'), Buffer.from([3]), Buffer.from('p:w')]);
    expect(onlyWhole(parseUserPass, b).value).to.deep.equal({ user: 'alice', pass: 'p:w' });
    expect(() => parseUserPass(Buffer.from([2, 0, 0]))).to.throw(SocksProtocolError);
  });

  it('parses CONNECT requests for IPv4, names and IPv6', () => {
    expect(onlyWhole(parseRequest, Buffer.from([5, 1, 0, 1, 10, 77, 0, 3, 0x1f, 0x90])).value).to.deep.equal({ cmd: 1, atyp: 1, address: '10.77.0.3', port: 8080 });
    const name = Buffer.from('web.overlay');
    const r = onlyWhole(parseRequest, Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]));
    expect(r.value).to.deep.equal({ cmd: 1, atyp: 3, address: 'web.overlay', port: 80 });
    const v6 = Buffer.concat([Buffer.from([5, 1, 0, 4]), Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from([1, 0])]);
    expect(onlyWhole(parseRequest, v6).value).to.deep.equal({ cmd: 1, atyp: 4, address: '2001:db8:0:0:0:0:0:1', port: 256 });
  });

  it('encodes replies with an IPv4 bound address', () => {
    expect([...encodeReply(0, '10.77.0.2', 40000)]).to.deep.equal([5, 0, 0, 1, 10, 77, 0, 2, 0x9c, 0x40]);
    expect([...encodeReply(7)]).to.deep.equal([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('reads /etc/hosts-format names (IPv4 only, first entry wins, case-insensitive) and USER:PASSWORD files', () => {
    const m = parseHostsFile('# c\n10.77.0.3 Web.Overlay web # comment\n::1 localhost6\n10.77.0.4 web\n\n');
    expect([...m]).to.deep.equal([['web.overlay', '10.77.0.3'], ['web', '10.77.0.3']]);
    expect([...parseAuthFile('# x\nalice:a:b\n\nbob:\n')]).to.deep.equal([['alice', 'a:b'], ['bob', '']]);
    expect(() => parseAuthFile('nocolon\n')).to.throw(SocksProtocolError);
  });
});
