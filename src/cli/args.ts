/**
 * A small, strict command-line parser: every command declares its flags, unknown flags
 * and bad values become a UsageError (one line on stderr, exit status 2).
 */
import { UsageError } from '../util/errors.js';

export type FlagKind = 'boolean' | 'string' | 'number' | 'list';

export interface FlagSpec {
  kind: FlagKind;
  /** Single-letter alias, e.g. 'l' for --listen. */
  short?: string;
  description?: string;
  default?: string | number | boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface Parsed {
  flags: Record<string, string | number | boolean | string[] | undefined>;
  positional: string[];
}

export function parseArgs(argv: string[], specs: FlagSpecs): Parsed {
  const flags: Parsed['flags'] = {};
  const positional: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.short) byShort.set(spec.short, name);
    if (spec.default !== undefined) flags[name] = spec.default;
    if (spec.kind === 'list') flags[name] = [];
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
      if (!specs[name]) throw new UsageError(`unknown option --${name}`);
    } else if (arg.startsWith('-') && arg.length >= 2 && !/^-\d/.test(arg)) {
      const letter = arg.slice(1, 2);
      name = byShort.get(letter);
      if (!name) throw new UsageError(`unknown option -${letter}`);
      if (arg.length > 2) inline = arg.slice(2);
    } else {
      positional.push(arg);
      continue;
    }
    const spec = specs[name]!;
    if (spec.kind === 'boolean') {
      if (inline !== undefined && specs[name]!.short && arg.startsWith('-') && !arg.startsWith('--')) {
        // Combined short booleans like -lk are not supported; keep errors explicit.
        throw new UsageError(`option -${spec.short} takes no value`);
      }
      flags[name] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`option --${name} needs a value`);
    if (spec.kind === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`option --${name}: '${value}' is not a number`);
      flags[name] = n;
    } else if (spec.kind === 'list') {
      (flags[name] as string[]).push(value);
    } else {
      flags[name] = value;
    }
  }
  return { flags, positional };
}

/** Reads a number flag and checks its range. */
export function numberFlag(p: Parsed, name: string, min: number, max: number, integer = true): number | undefined {
  const v = p.flags[name];
  if (v === undefined) return undefined;
  const n = v as number;
  if ((integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new UsageError(`option --${name}: ${n} is out of range (${min}..${max}${integer ? ', integer' : ''})`);
  }
  return n;
}

export function stringFlag(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return v === undefined ? undefined : String(v);
}

export function listFlag(p: Parsed, name: string): string[] {
  return (p.flags[name] as string[] | undefined) ?? [];
}

export function boolFlag(p: Parsed, name: string): boolean {
  return p.flags[name] === true;
}

/** Help text from the specs. */
export function usage(synopsis: string, specs: FlagSpecs): string {
  const lines = [`usage: ${synopsis}`];
  for (const [name, s] of Object.entries(specs)) {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.kind === 'boolean' ? '' : ' VALUE'}`;
    lines.push(`  ${flag.padEnd(28)} ${s.description ?? ''}${s.default !== undefined ? ` (default ${s.default})` : ''}`);
  }
  return lines.join('\n');
}
