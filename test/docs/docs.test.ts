/**
 * Documentation is tested: every code sample in README.md and docs/*.md compiles, and every
 * command runs as printed.
 *
 * - ```ts blocks are standalone modules importing from 'overlay-tcp', 'overlay-tcp/net',
 *   'overlay-tcp/dgram', 'overlay-tcp/chaos' or 'overlay-tcp/sim' (the package refers to itself
 *   through package.json "exports"). All are compiled together with `tsc --strict`. A ts block
 *   preceded by `<!-- doc-test: run -->` is also run with node and must exit 0 within 30 s.
 * - ```sh / ```bash / ```shell blocks must be preceded by one annotation that says how this
 *   test runs them (a block without one fails the test):
 *     <!-- doc-test: run [timeout=S] [cwd=repo] -->   every line in order; each must exit 0
 *     <!-- doc-test: servers=N [timeout=S] -->        the first N lines start in the background,
 *         each waited for until it prints its ready line ("listening ..." or "READY ..."); the
 *         other lines then run in order and must exit 0; servers still running at the end
 *         get SIGTERM
 *     <!-- doc-test: skip REASON -->                  not run; only for what needs another
 *         machine, Docker or a browser, and the reason says which
 *   Commands run exactly as printed with bash in a private network namespace (`unshare
 *   --net`, so the documented fixed ports cannot collide with anything), with `overlay` on
 *   PATH, in a scratch directory that has `dist` (the build), `docs/images/` and the input
 *   files `file.bin` and `in.bin` (1 MiB each); `cwd=repo` runs in the checkout instead (for
 *   npm). A trailing `\` continues a line. Without root (no `unshare`), shell blocks skip.
 * - An untagged block whose line starts like a command (overlay, node, npm, npx, curl, ...) must
 *   be tagged sh and annotated, except the blocks listed in UNCHECKED (older docs, to be moved
 *   into the mechanism; the list may only shrink).
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DOCS = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Block {
  file: string;
  line: number;
  lang: string;
  code: string;
  annotation: string | undefined;
}

/** Every fenced block with its language and the `<!-- doc-test: ... -->` right before it. */
export function extractBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) j++;
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const ann = k >= 0 ? /^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$/.exec(lines[k]!) : null;
    const code = lines
      .slice(i + 1, j)
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join('\n');
    out.push({ file, line: i + 1, lang: open[2]!, code, annotation: ann ? ann[1] : undefined });
    i = j;
  }
  return out;
}

const blocks = DOCS.flatMap((f) => extractBlocks(f, readFileSync(join(REPO, f), 'utf8')));
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const COMMANDISH = /^\s*(\$ )?(overlay|node|npm|npx|curl|sudo|tshark|docker|ip) /m;

/** Untagged command blocks of the older docs not yet under this test (first line). Only shrinks. */
const UNCHECKED = [
  'overlay cat --addr 10.77.0.3 --learn -l 5000            # accept one connection, then exit',
  'npx tsc -p . && ../shared/tools/kernel-peer/in-netns.sh node dist/test/interop/kernel-run.js',
  'node <out>/bench/linux.js [--seconds D] [--loss 0.001,0.01,0.03] [--cc cubic,reno,bbr] [--seed N] [--runs R]',
  'node dist/bench/linux.js --seconds 10 --loss 0.01,0.03 --cc bbr,cubic --runs 1',
  'overlay cat -u -l 7 --addr 10.77.0.3 --udp 127.0.0.1:40003 --learn',
  "tshark -i lo -f 'udp port 40002 or udp port 40003' \\",
  'node dist/bench/load.js  --connections 1000 --seconds 300   # through the proxy at 1% loss',
  'npm run build',
  'overlay demo --duration 600 --metrics-host 0.0.0.0 &     # 0.0.0.0: reachable from Docker on Linux',
  '$ overlay ss 127.0.0.1:9466',
  'overlay demo --duration 5 --pcap demo.pcap',
  'overlay plot demo.trace --list                              # connections in the trace',
  'sudo ufw allow 40000/udp                                      # Ubuntu (ufw)',
  'node dist/examples/stream-file.js --role receiver \\',
  'node dist/examples/stream-file.js --role sender \\',
  'node dist/src/cli/main.js cat --addr 10.77.0.3 --udp 0.0.0.0:40000 \\',
  'node dist/src/cli/main.js proxy --listen 0.0.0.0:41000 \\',
  'node dist/src/cli/main.js chaos --api 127.0.0.1:8474 set loss 0.05',
  'sudo npx mocha --no-config --timeout 60000 dist/test/integration/netns-veth.test.js',
  'sudo ip netns add A; sudo ip netns add B',
  'node dist/examples/udp-echo-server.js --udp 127.0.0.1:40013 --peer 10.77.0.2=127.0.0.1:40002',
  'node dist/examples/stream-file.js ... --mtu 1392',
  'node dist/examples/stream-file.js --role receiver --metrics 127.0.0.1:9464',
  'node dist/examples/tcp-echo-server.js --pcap server.pcap',
  'cd /work/main && npx tsc -p . --outDir <out>',
  ' machine A (192.0.2.10)                               machine B (192.0.2.20)',
  '# B',
  '# on B (192.0.2.20), proxy on UDP 41000: 20 ms each way, 1% loss, a 50 Mbit/s bottleneck',
  "ss -uapn 'sport = :40003'            # which process holds UDP 40003",
  'ping -M do -s 1472 OTHER_MACHINE      # lower -s until it passes; use --mtu (that -s + 28) - 28',
];

function where(b: Block): string {
  return `${b.file}:${b.line}`;
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs: number }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd ?? REPO, timeout: opts.timeoutMs, maxBuffer: 16 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) ?? 1 : 0;
      resolve({ code: typeof code === 'number' ? code : 1, out: `${stdout}${stderr}` });
    });
  });
}

/** The commands of a shell block: `\`-continued lines joined, comments and blank lines dropped. */
export function commands(code: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of code.split('\n')) {
    const line = raw.replace(/^\$ /, '');
    if (cur === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (/\\\s*$/.test(line)) {
      cur += line.replace(/\\\s*$/, ' ');
      continue;
    }
    out.push((cur + line).trim());
    cur = '';
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Parses `run timeout=60 cwd=repo`, `servers=2`, `skip reason`. */
function parseAnnotation(a: string): { mode: 'run' | 'servers' | 'skip'; servers: number; timeoutS: number; cwdRepo: boolean; reason: string } {
  const skip = /^skip\b\s*(.*)$/.exec(a);
  if (skip) return { mode: 'skip', servers: 0, timeoutS: 0, cwdRepo: false, reason: skip[1]!.replace(/^[:\s-]+/, '') };
  const kv = Object.fromEntries([...a.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  const servers = kv.servers !== undefined ? Number(kv.servers) : 0;
  return { mode: servers > 0 ? 'servers' : 'run', servers, timeoutS: Number(kv.timeout ?? 60), cwdRepo: kv.cwd === 'repo', reason: '' };
}

/** The bash script that runs a block's commands (servers in the background first). */
export function script(cmds: string[], servers: number): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['set -u', 'ip link set lo up', 'pids=()'];
  cmds.forEach((c, i) => {
    if (i < servers) {
      lines.push(`echo ${q(`[server ${i + 1}] ${c}`)} >&2`);
      lines.push(`{ ${c}\n} >.server${i}.out 2>.server${i}.err & pids+=($!)`);
      lines.push(
        `for n in $(seq 1 200); do grep -qE '^(listening|READY) ' .server${i}.out .server${i}.err 2>/dev/null && break; ` +
          `kill -0 $! 2>/dev/null || { cat .server${i}.err >&2; echo ${q(`server exited: ${c}`)} >&2; exit 1; }; sleep 0.05; done`,
      );
      lines.push(`grep -qE '^(listening|READY) ' .server${i}.out .server${i}.err || { echo ${q(`not ready: ${c}`)} >&2; exit 1; }`);
    } else {
      lines.push(`echo ${q(`[run] ${c}`)} >&2`);
      lines.push(`${c} || { rc=$?; echo "exit status $rc: "${q(c)} >&2; exit $rc; }`);
    }
  });
  // Servers get 3 s to finish by themselves, then SIGTERM.
  lines.push('for n in $(seq 1 30); do alive=0; for p in "${pids[@]}"; do kill -0 $p 2>/dev/null && alive=1; done; [ $alive = 0 ] && break; sleep 0.1; done');
  lines.push('for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait');
  lines.push('exit 0');
  return lines.join('\n') + '\n';
}

describe('docs: every sample compiles and every command runs as printed', function () {
  this.timeout(300_000);
  let scratch = '';
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'overlay-docs-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds the samples (README has ts and sh blocks)', () => {
    expect(blocks.filter((b) => b.file === 'README.md' && b.lang === 'ts').length).to.be.at.least(1);
    expect(blocks.filter((b) => b.file === 'README.md' && SHELL.has(b.lang)).length).to.be.at.least(3);
  });

  it('every shell block is annotated, and every untagged command block is tagged', () => {
    const problems: string[] = [];
    for (const b of blocks) {
      if (SHELL.has(b.lang) && !b.annotation) problems.push(`${where(b)}: add <!-- doc-test: run | servers=N | skip REASON --> before this block`);
      if (SHELL.has(b.lang) && b.annotation && parseAnnotation(b.annotation).mode === 'skip' && parseAnnotation(b.annotation).reason.length < 10) {
        problems.push(`${where(b)}: a skipped block needs its reason`);
      }
      if (b.lang === '' && COMMANDISH.test(b.code) && !UNCHECKED.includes(b.code.split('\n')[0]!)) problems.push(`${where(b)}: commands: tag this block sh and annotate it`);
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('every ts block compiles with tsc --strict against the package exports (and `run` blocks run)', async () => {
    const dir = join(REPO, 'dist', 'doc-samples');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const ts = blocks.filter((b) => b.lang === 'ts' || b.lang === 'typescript');
    const files = ts.map((b, i) => {
      const name = `sample${String(i).padStart(2, '0')}.ts`;
      writeFileSync(join(dir, name), `// ${where(b)}\n${b.code}\n`);
      return name;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'], strict: true, skipLibCheck: true, outDir: 'out', rootDir: '.' },
        files,
      }),
    );
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { timeoutMs: 120_000 });
    const named = r.out.replace(/sample(\d+)\.ts\((\d+),(\d+)\)/g, (_m, i: string, l: string) => {
      const b = ts[Number(i)]!;
      return `${b.file}:${b.line + Number(l) - 1}`;
    });
    expect(r.code, named).to.equal(0);
    for (const [i, b] of ts.entries()) {
      if (b.annotation !== 'run') continue;
      const out = await run(process.execPath, [join(dir, 'out', files[i]!.replace(/\.ts$/, '.js'))], { timeoutMs: 30_000 });
      expect(out.code, `${where(b)} ran: ${out.out}`).to.equal(0);
    }
  });

  const shell = blocks.filter((b) => SHELL.has(b.lang) && b.annotation && parseAnnotation(b.annotation).mode !== 'skip');
  for (const b of shell) {
    it(`${where(b)} runs as printed (${b.annotation})`, async function () {
      if (process.getuid?.() !== 0) this.skip(); // unshare --net needs root
      const a = parseAnnotation(b.annotation!);
      const cwd = a.cwdRepo ? REPO : mkdtempSync(join(scratch, 'run-'));
      if (!a.cwdRepo) {
        symlinkSync(join(REPO, 'dist'), join(cwd, 'dist'));
        mkdirSync(join(cwd, 'docs', 'images'), { recursive: true });
        writeFileSync(join(cwd, 'file.bin'), randomBytes(1 << 20));
        writeFileSync(join(cwd, 'in.bin'), randomBytes(1 << 20));
      }
      const bin = join(scratch, 'bin');
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, 'overlay'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO, 'dist', 'src', 'cli', 'main.js')}" "$@"\n`, { mode: 0o755 });
      const file = join(a.cwdRepo ? scratch : cwd, `.block-${b.line}.sh`);
      writeFileSync(file, script(commands(b.code), a.servers));
      const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn('unshare', ['--net', 'bash', file], { cwd, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
        p.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
        // The whole process group: background servers must not outlive a timed-out block.
        const timer = setTimeout(() => process.kill(-p.pid!, 'SIGKILL'), a.timeoutS * 1000);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
      expect(res.code, `${where(b)}:\n${res.out}`).to.equal(0);
    });
  }
});
