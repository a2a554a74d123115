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
 *         each waited for until it prints its ready line ("listening ...", "READY ..." or
 *         Python http.server's "Serving HTTP on ..."); the
 *         other lines then run in order and must exit 0; servers still running at the end
 *         get SIGTERM
 *     <!-- doc-test: skip REASON -->                  not run; only for what needs another
 *         machine, Docker or a browser, and the reason says which
 *   Commands run exactly as printed with bash in a private network namespace (`unshare
 *   --net`, so the documented fixed ports cannot collide with anything), with `overlay` on
 *   PATH, in a scratch directory that has `dist` (the build), `docs/images/` and the input
 *   files `file.bin` and `in.bin` (1 MiB each); `cwd=repo` runs in the checkout instead (for
 *   npm). A trailing `\` continues a line. Without root (no `unshare`), shell blocks skip.
 * - Inline commands: in docs/teaching.md (the lecture map, where the commands live in a
 *   table), every inline `node dist/examples/...` span runs as printed, like a `run` block; in
 *   "`SERVER` then `CLIENT`" the server starts in the background first (like `servers=1`).
 *   Spans with a placeholder (NAME, ...) and the two-role stream-file runs are left to
 *   test/integration (they need flags the table leaves out).
 * - An untagged block whose line starts like a command (overlay, node, npm, npx, curl, ...) must
 *   be tagged sh and annotated (output and diagrams are tagged text).
 * - Blocks run three at a time (DOCS_TEST_JOBS=N to change), each in namespaces of its own;
 *   `cwd=repo` blocks run first, alone, since they rebuild what the others use.
 * - In `run` and `servers` blocks, a line ending in ` &` starts in the background, is not
 *   waited for, and is killed at the end like a server. Every block also gets a mount
 *   namespace with a private /run/netns, so `ip netns add A` in a doc cannot collide with
 *   another run's namespace of the same name.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** Inline example commands of a doc as blocks: a lone span runs; "`A` then `B`" runs A as a server. */
export function inlineCommands(file: string, text: string): Block[] {
  const out: Block[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const re = /`(node dist\/examples\/[^`]+)`(?: then `(node dist\/examples\/[^`]+)`)?/g;
    for (const m of line.matchAll(re)) {
      const cmds = [m[1]!, ...(m[2] ? [m[2]] : [])];
      if (cmds.some((c) => /NAME|\.\.\.|stream-file/.test(c))) continue;
      const code = cmds.join('\n');
      if (seen.has(code)) continue;
      seen.add(code);
      // A server alone must start and print its ready line (it is then stopped).
      const server = m[2] !== undefined || /-server\.js/.test(m[1]!);
      out.push({ file, line: i + 1, lang: 'sh', code, annotation: server ? 'servers=1 timeout=120' : 'run timeout=120' });
    }
  });
  return out;
}
const inline = inlineCommands('docs/teaching.md', readFileSync(join(REPO, 'docs/teaching.md'), 'utf8'));
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const COMMANDISH = /^\s*(\$ )?(overlay|node|npm|npx|curl|sudo|tshark|docker|ip) /m;

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

/** A server's ready line: ours (`listening ...`, `READY ...`) or Python's http.server. */
const READY = '^(listening|READY|Serving HTTP on) ';

/** The bash script that runs a block's commands (servers in the background first). */
export function script(cmds: string[], servers: number): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // /run/netns private to this block (its mount namespace is): `ip netns add` names stay local.
  const lines = ['set -u', 'ip link set lo up', 'mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns', 'pids=()'];
  cmds.forEach((c, i) => {
    if (i < servers) {
      lines.push(`echo ${q(`[server ${i + 1}] ${c}`)} >&2`);
      lines.push(`{ ${c}\n} >.server${i}.out 2>.server${i}.err & pids+=($!)`);
      lines.push(
        `for n in $(seq 1 200); do grep -qE '${READY}' .server${i}.out .server${i}.err 2>/dev/null && break; ` +
          `kill -0 $! 2>/dev/null || { cat .server${i}.err >&2; echo ${q(`server exited: ${c}`)} >&2; exit 1; }; sleep 0.05; done`,
      );
      lines.push(`grep -qE '${READY}' .server${i}.out .server${i}.err || { echo ${q(`not ready: ${c}`)} >&2; exit 1; }`);
    } else if (/(^|[^&])&$/.test(c)) {
      lines.push(`echo ${q(`[background] ${c}`)} >&2`);
      lines.push(`${c} pids+=($!)`);
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
      if (b.lang === '' && COMMANDISH.test(b.code)) problems.push(`${where(b)}: commands: tag this block sh and annotate it`);
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

  const shell = [...blocks.filter((b) => SHELL.has(b.lang) && b.annotation && parseAnnotation(b.annotation).mode !== 'skip'), ...inline];

  /** Runs one shell block in its own network, PID and mount namespaces; bounded by its timeout. */
  async function runBlock(b: Block): Promise<{ code: number | null; out: string }> {
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
    const file = join(a.cwdRepo ? scratch : cwd, `.block-${b.file.replace(/\W/g, '_')}-${b.line}.sh`);
    writeFileSync(file, script(commands(b.code), a.servers));
    return new Promise((resolve) => {
      // A PID namespace of its own too: when the block's bash (its PID 1) exits, the kernel
      // kills every process the block started, however it was backgrounded.
      const p = spawn('unshare', ['--net', '--pid', '--mount', '--propagation', 'private', '--fork', '--kill-child', 'bash', file], { cwd, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
  }

  /**
   * Most blocks wait on timers and the network, not the CPU, so they run JOBS at a time (each
   * in namespaces of its own, so their fixed ports cannot collide). `cwd=repo` blocks (npm
   * install, the build, the figures) run first and alone: they rewrite files the others read.
   */
  const JOBS = Math.max(1, Number(process.env.DOCS_TEST_JOBS ?? 3));
  let results: Map<Block, Promise<{ code: number | null; out: string }>> | undefined;
  function scheduled(b: Block): Promise<{ code: number | null; out: string }> {
    if (!results) {
      const all = new Map<Block, Promise<{ code: number | null; out: string }>>();
      const repo = shell.filter((x) => parseAnnotation(x.annotation!).cwdRepo);
      let chain: Promise<unknown> = Promise.resolve();
      for (const x of repo) {
        const done = chain.then(() => runBlock(x));
        all.set(x, done);
        chain = done;
      }
      const queue = shell.filter((x) => !parseAnnotation(x.annotation!).cwdRepo);
      const settle = new Map<Block, (r: { code: number | null; out: string }) => void>();
      for (const x of queue) all.set(x, new Promise((resolve) => settle.set(x, resolve)));
      void chain.then(() =>
        Promise.all(
          Array.from({ length: JOBS }, async () => {
            for (let x = queue.shift(); x; x = queue.shift()) settle.get(x)!(await runBlock(x));
          }),
        ),
      );
      results = all;
    }
    return results.get(b)!;
  }

  for (const b of shell) {
    it(`${where(b)} runs as printed (${b.annotation})${b.file === 'docs/teaching.md' ? `: ${b.code.replace(/\n/g, ' then ')}` : ''}`, async function () {
      if (process.getuid?.() !== 0) this.skip(); // unshare --net needs root
      // Every block is bounded by its own timeout; this one also covers the wait for a free slot.
      this.timeout(900_000);
      const res = await scheduled(b);
      expect(res.code, `${where(b)}:\n${res.out}`).to.equal(0);
    });
  }

  it('leaves no process behind (none runs in a scratch directory of this test)', function () {
    if (process.getuid?.() !== 0 || shell.length === 0) this.skip();
    const left: string[] = [];
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (readlinkSync(`/proc/${pid}/cwd`).startsWith(scratch)) left.push(`${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
      } catch {
        // gone, or not ours to read
      }
    }
    expect(left, left.join('\n')).to.deep.equal([]);
  });
});
