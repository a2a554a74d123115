/**
 * `overlay keygen FILE`: writes a new X25519 private key (base64, one line) to FILE,
 * readable by its owner only (mode 0600), and prints the public key (base64) on stdout:
 * give that line to the peers (`--peer PREFIX=HOST:PORT,key=PUBLIC`).
 * `overlay keygen --public FILE` prints the public key of an existing private key file.
 * FILE is never overwritten (exit 1, EEXIST) unless --force.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { UsageError, makeError } from '../util/errors.js';
import { decodeKey, newKeyPair, publicKeyOf } from '../secure/keys.js';
import { boolFlag, parseArgs, usage, type FlagSpecs } from './args.js';

const specs: FlagSpecs = {
  public: { kind: 'boolean', description: "print the public key of the existing private key FILE (a peer's key=)" },
  force: { kind: 'boolean', description: 'overwrite FILE if it exists' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};

const SYNOPSIS = 'overlay keygen [--force] FILE | overlay keygen --public FILE';

/** Reads a private key file (base64); a Node-style error (ENOENT, EINVAL, ...) otherwise. */
export async function readKeyFile(path: string): Promise<Buffer> {
  const text = await readFile(path, 'utf8');
  const key = decodeKey(text);
  if (!key) throw makeError('EINVAL', 'open', { message: `${path} does not hold a key (one base64 line of 32 bytes, as overlay keygen writes)` });
  return key;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, specs);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, specs) + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new UsageError(`keygen needs exactly one FILE (usage: ${SYNOPSIS})`);
  const file = p.positional[0]!;
  if (boolFlag(p, 'public')) {
    process.stdout.write(publicKeyOf(await readKeyFile(file)) + '\n');
    return 0;
  }
  const k = newKeyPair();
  await writeFile(file, k.privateKey + '\n', { mode: 0o600, flag: boolFlag(p, 'force') ? 'w' : 'wx' });
  // writeFile's mode applies only when it creates the file; --force on an old file too.
  await chmod(file, 0o600);
  process.stdout.write(k.publicKey + '\n');
  return 0;
}
