/**
 * A closed stdout (`overlay cat -l 5000 | head -c 100`, `overlay plot t.trace --json | head`)
 * ends the command quietly: no `Error: write EPIPE` stack. Commands that hold a connection
 * whose only consumer was stdout register a hook (onStdoutGone) that resets it, so the peer
 * learns at once (ECONNRESET) instead of sending into the void. The CLI (main.ts) and the
 * examples (examples/lib/setup.ts) call guardStdout() once at start.
 */
type Hook = () => void | Promise<void>;
const hooks: Hook[] = [];
let installed = false;
let gone = false;

/** Runs `fn` when stdout turns out to be closed; returns a function that unregisters it. */
export function onStdoutGone(fn: Hook): () => void {
  hooks.push(fn);
  return () => {
    const i = hooks.indexOf(fn);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** True once a write to stdout failed because its reader went away. */
export function stdoutGone(): boolean {
  return gone;
}

/**
 * Handles errors of stdout: EPIPE (and writes after it) run the hooks, at most 2 s, then exit
 * with process.exitCode or 0; any other error is one line on stderr and exit 1.
 */
export function guardStdout(prefix = 'overlay'): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (gone) return;
    gone = true;
    const closed = err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || err.code === 'ECONNRESET';
    if (!closed) process.stderr.write(`${prefix}: stdout: ${err.message}\n`);
    const run = async (): Promise<void> => {
      for (const h of hooks.splice(0).reverse()) {
        try {
          await h();
        } catch {
          // Keep going: the others must still run.
        }
      }
    };
    const cap = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    void Promise.race([run(), cap]).then(() => {
      process.exit(closed ? (typeof process.exitCode === 'number' ? process.exitCode : 0) : 1);
    });
  });
}
