/**
 * The layer rules of README "Architecture", checked on the source: every import (value or
 * type, static or dynamic) of every file under src/ is resolved to its folder and compared
 * with the rules below. A rule broken fails `npm test` with the offending file and import.
 *
 * Ranks (an import may point to its own rank or lower; never higher):
 *   0 util, limits.ts                 helpers with no protocol knowledge
 *   1 wire                            codecs
 *   2 observe                         observer hooks (inventory, observers.trace); it names
 *                                     what it carries with type-only imports from host/tcp/udp
 *   3 link                            the UDP socket
 *   3.5 secure                        the encrypted link (wraps a link; the host uses it)
 *   4 host                            IP, demux, ICMP
 *   5 tcp, udp                        transports (the sans-IO core and its driver; datagrams)
 *   6 socket, sim                     the node:net-style API; the simulator
 *   7 net.ts, index.ts, metrics, trace, chaos, cli, apps   entry points, observability, tools
 * Plus: nothing at ranks 0-5 imports metrics, trace, chaos, cli or demo (observers are
 * injected); src/chaos has no import cycle; cli and demo never import each other both ways.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/unit -> repository root
const ROOT = resolve(here, '../../..');
const SRC = join(ROOT, 'src');

const RANK: Record<string, number> = {
  util: 0,
  'limits.ts': 0,
  wire: 1,
  observe: 2,
  link: 3,
  secure: 3.5,
  host: 4,
  tcp: 5,
  udp: 5,
  socket: 6,
  sim: 6,
  'net.ts': 7,
  'index.ts': 7,
  metrics: 7,
  trace: 7,
  chaos: 7,
  cli: 7,
  demo: 7,
  apps: 7,
};
const OBSERVABILITY_AND_TOOLS = new Set(['metrics', 'trace', 'chaos', 'cli', 'demo']);

interface Edge {
  from: string; // path relative to src/
  to: string;
  typeOnly: boolean;
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports and re-exports of one file (static `import`/`export ... from`, dynamic `import()`). */
function edges(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const out: Edge[] = [];
  const stat = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm;
  const bare = /^\s*import\s+'([^']+)'/gm;
  const dyn = /import\(\s*'([^']+)'\s*\)/g;
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    out.push({ from: relative(SRC, file), to: relative(SRC, target), typeOnly });
  };
  for (const m of text.matchAll(stat)) add(m[3]!, !!m[2]);
  for (const m of text.matchAll(bare)) add(m[1]!, false);
  for (const m of text.matchAll(dyn)) add(m[1]!, false);
  return out;
}

/** The layer a path under src/ belongs to: its top folder, or the file name at the top. */
function layer(path: string): string {
  return path.split('/')[0]!;
}

const all = files(SRC).flatMap(edges);

describe('layers: arrows point down (README "Architecture")', () => {
  it('the source tree has the layers the rules name, and every file belongs to one', () => {
    expect(all.length).to.be.greaterThan(100);
    const unknown = files(SRC)
      .map((f) => layer(relative(SRC, f)))
      .filter((l) => RANK[l] === undefined);
    expect([...new Set(unknown)], 'folders with no rank: add them to the rules').to.deep.equal([]);
  });

  it('no import points to a higher rank (type-only imports by src/observe excepted: they name what it carries)', () => {
    const bad = all.filter((e) => {
      const a = layer(e.from);
      const b = layer(e.to);
      if (a === b || RANK[b] === undefined) return false;
      if (a === 'observe' && e.typeOnly && RANK[b]! <= RANK.tcp!) return false;
      return RANK[b]! > RANK[a]!;
    });
    expect(bad.map((e) => `${e.from} -> ${e.to}`)).to.deep.equal([]);
  });

  it('nothing under wire, link, secure, host, tcp, udp, util or observe imports metrics, trace, chaos, cli or demo', () => {
    const bad = all.filter((e) => RANK[layer(e.from)]! <= RANK.tcp! && OBSERVABILITY_AND_TOOLS.has(layer(e.to)));
    expect(bad.map((e) => `${e.from} -> ${e.to}`)).to.deep.equal([]);
  });

  it('src/chaos has no import cycle', () => {
    const graph = new Map<string, string[]>();
    for (const e of all) {
      if (layer(e.from) !== 'chaos' || layer(e.to) !== 'chaos') continue;
      graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (n: string, path: string[]): void => {
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'open') {
        cycles.push([...path.slice(path.indexOf(n)), n].join(' -> '));
        return;
      }
      state.set(n, 'open');
      for (const m of graph.get(n) ?? []) visit(m, [...path, n]);
      state.set(n, 'done');
    };
    for (const n of graph.keys()) visit(n, []);
    expect(cycles).to.deep.equal([]);
  });

  it('cli and demo do not import each other both ways', () => {
    const cliToDemo = all.some((e) => layer(e.from) === 'cli' && layer(e.to) === 'demo');
    const demoToCli = all.some((e) => layer(e.from) === 'demo' && layer(e.to) === 'cli');
    expect(cliToDemo && demoToCli).to.equal(false);
  });

  it('the checker sees violations (a planted upward import is reported)', () => {
    const planted: Edge = { from: 'tcp/driver.ts', to: 'metrics/registry.ts', typeOnly: false };
    const found = [planted].filter((e) => RANK[layer(e.to)]! > RANK[layer(e.from)]!);
    expect(found).to.have.length(1);
    // And the parser finds real imports: driver.ts imports the wire codec.
    expect(all.some((e) => e.from === 'tcp/driver.ts' && e.to === 'wire/tcp.ts')).to.equal(true);
  });
});
