/**
 * The chaos model without any I/O: the toxics (per link or for every link, '*') and one
 * Lane per link direction. Every change is applied synchronously to the affected lanes,
 * so it is atomic and takes effect at the next packet; the other toxics keep their state.
 */
import { ChaosConfigError, compileToxic, normalizeParams, mergeParams, parseStage, toxicApplies, type Direction, type DirSpec, type StageName, type Toxic } from './rules.js';
import { Lane, type LaneOptions, type ReplayTable, type ScopedToxic } from './pipeline.js';
import type { Decision, Pkt } from './stages.js';

export const ALL_LINKS = '*';

export interface ModelOptions {
  seed: number;
  /** Proxy-clock ms now (performance.now() - start on the real driver, a variable in tests). */
  now: () => number;
  log?: (d: Decision) => void;
  replay?: ReplayTable;
  fragNeeded?: (link: string, dir: Direction, p: Pkt, mtu: number) => void;
}

export class ChaosModel {
  /** scope ('*' or a link name) -> toxic name -> toxic, in insertion order. */
  private readonly toxics = new Map<string, Map<string, Toxic>>();
  private readonly lanes = new Map<string, { up: Lane; down: Lane }>();
  /** Called when a lane is created (the driver binds its output). */
  onLane: (lane: Lane) => void = () => {};

  constructor(readonly opts: ModelOptions) {}

  /** The two lanes of a link, created on first use. */
  link(name: string): { up: Lane; down: Lane } {
    let l = this.lanes.get(name);
    if (!l) {
      l = { up: this.makeLane(name, 'up'), down: this.makeLane(name, 'down') };
      this.lanes.set(name, l);
      this.onLane(l.up);
      this.onLane(l.down);
    }
    return l;
  }

  lane(link: string, dir: Direction): Lane {
    return this.link(link)[dir];
  }

  hasLink(name: string): boolean {
    return this.lanes.has(name);
  }

  linkNames(): string[] {
    return [...this.lanes.keys()];
  }

  private makeLane(link: string, dir: Direction): Lane {
    const o: LaneOptions = { seed: this.opts.seed, link, dir };
    if (this.opts.log) o.log = this.opts.log;
    if (this.opts.replay) o.replay = this.opts.replay;
    const frag = this.opts.fragNeeded;
    if (frag) o.fragNeeded = (p, mtu) => frag(link, dir, p, mtu);
    const lane = new Lane(o);
    lane.configure(this.toxicsFor(link, dir), this.opts.now());
    return lane;
  }

  /** Toxics of a lane: the '*' ones, then the link's own; a link toxic replaces a '*' one of the same name. */
  toxicsFor(link: string, dir: Direction): ScopedToxic[] {
    const own = link === ALL_LINKS ? undefined : this.toxics.get(link);
    const out: ScopedToxic[] = [];
    for (const t of this.toxics.get(ALL_LINKS)?.values() ?? []) {
      if (own?.has(t.name)) continue;
      if (toxicApplies(t, dir)) out.push({ scope: ALL_LINKS, toxic: t });
    }
    if (link !== ALL_LINKS) for (const t of own?.values() ?? []) if (toxicApplies(t, dir)) out.push({ scope: link, toxic: t });
    return out;
  }

  private refresh(scope: string): void {
    const now = this.opts.now();
    for (const [name, l] of this.lanes) {
      if (scope !== ALL_LINKS && scope !== name) continue;
      l.up.configure(this.toxicsFor(name, 'up'), now);
      l.down.configure(this.toxicsFor(name, 'down'), now);
    }
  }

  private scopeMap(scope: string): Map<string, Toxic> {
    let m = this.toxics.get(scope);
    if (!m) {
      m = new Map();
      this.toxics.set(scope, m);
    }
    return m;
  }

  listToxics(scope: string): Toxic[] {
    return [...(this.toxics.get(scope)?.values() ?? [])];
  }

  scopes(): string[] {
    return [...this.toxics.keys()].filter((s) => (this.toxics.get(s)?.size ?? 0) > 0);
  }

  getToxic(scope: string, name: string): Toxic | undefined {
    return this.toxics.get(scope)?.get(name);
  }

  /** Adds a toxic; a name already in use on that scope is an error (like Toxiproxy). */
  addToxic(scope: string, spec: unknown): Toxic {
    const t = compileToxic(spec, this.opts.now());
    const m = this.scopeMap(scope);
    if (m.has(t.name)) throw new ChaosConfigError(`toxic '${t.name}' already exists on ${scope}`);
    m.set(t.name, t);
    this.refresh(scope);
    return t;
  }

  /** Updates a toxic: fields given replace the old ones; params are merged. State is kept. */
  updateToxic(scope: string, name: string, patch: Record<string, unknown>): Toxic {
    const old = this.getToxic(scope, name);
    if (!old) throw new ChaosConfigError(`no toxic '${name}' on ${scope}`);
    const params = mergeParams(old.params, (patch.params ?? patch.attributes ?? {}) as Record<string, unknown>);
    const spec: Record<string, unknown> = {
      name,
      stage: patch.stage ?? patch.type ?? old.stage,
      direction: patch.direction ?? patch.stream ?? old.direction,
      params,
    };
    const match = 'match' in patch ? patch.match : old.matchSpec;
    const schedule = 'schedule' in patch ? patch.schedule : old.scheduleSpec;
    if (match) spec.match = match;
    if (schedule) spec.schedule = schedule;
    const toxicity = 'toxicity' in patch ? patch.toxicity : old.toxicity;
    if (toxicity !== 1) spec.toxicity = toxicity;
    const t = compileToxic(spec, old.addedAt);
    t.version = old.version + 1;
    this.scopeMap(scope).set(name, t);
    this.refresh(scope);
    return t;
  }

  removeToxic(scope: string, name: string): boolean {
    const ok = this.toxics.get(scope)?.delete(name) ?? false;
    if (ok) this.refresh(scope);
    return ok;
  }

  /**
   * The base impairment of a stage on a scope and direction: the toxic named
   * `STAGE-DIR` (both directions set both). With merge, params are merged into the old ones.
   */
  setImpairment(scope: string, dir: DirSpec, stageName: string, params: Record<string, unknown>, merge = false): Toxic[] {
    const stage = parseStage(stageName);
    const dirs: Direction[] = dir === 'both' ? ['up', 'down'] : [dir];
    // Validate everything before changing anything (atomic).
    const planned = dirs.map((d) => {
      const name = `${stage}-${d}`;
      const old = this.getToxic(scope, name);
      const merged = merge && old && old.stage === stage ? mergeParams(old.params, params) : params;
      normalizeParams(stage, merged);
      return { name, d, merged, old };
    });
    const out: Toxic[] = [];
    for (const { name, d, merged, old } of planned) {
      const t = compileToxic({ name, stage, direction: d, params: merged }, old?.addedAt ?? this.opts.now());
      if (old) t.version = old.version + 1;
      this.scopeMap(scope).set(name, t);
      out.push(t);
    }
    this.refresh(scope);
    return out;
  }

  /** Removes every toxic of a stage on a scope. Returns how many. */
  clearStage(scope: string, stageName: string): number {
    const stage: StageName = parseStage(stageName);
    const m = this.toxics.get(scope);
    let n = 0;
    for (const [name, t] of m ?? []) {
      if (t.stage === stage) {
        m!.delete(name);
        n++;
      }
    }
    if (n) this.refresh(scope);
    return n;
  }

  /** Removes every toxic (and with it all held state). */
  reset(): void {
    this.toxics.clear();
    this.refresh(ALL_LINKS);
  }
}
