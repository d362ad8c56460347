import { SpecError } from '../errors.js';
import { isFixedRate } from './checks.js';
import { identity } from './identity.js';
import { dither } from './dither.js';
import { int8 } from './int8.js';
import { natural } from './natural.js';
import { permk } from './permk.js';
import { powersgd } from './powersgd.js';
import { randk, type KeepRule } from './randk.js';
import { topk } from './topk.js';
import { SparseCompressor } from './sparse.js';
import type { Compressor } from './types.js';

/**
 * Compressor specs: `name` or `name:args`, args a comma-separated list of `key=value` and bare
 * values (`randk:0.1`, `randk:k=100`, `dither:p=2,s=8`, `int8:block=256,stochastic`), and
 * `sparsifier+quantizer` compositions (`randk:0.1+natural`).
 */

/** The parsed argument list of one spec part, with typed accessors that throw SpecError. */
export class SpecArgs {
  readonly name: string;
  readonly raw: string;
  private readonly named = new Map<string, string>();
  private readonly bare: string[] = [];
  private readonly used = new Set<string>();
  private bareUsed = 0;

  constructor(name: string, raw: string) {
    this.name = name;
    this.raw = raw;
    if (raw === '') return;
    for (const part of raw.split(',')) {
      const item = part.trim();
      if (item === '') throw new SpecError(`${name}: empty argument in '${raw}'`);
      const eq = item.indexOf('=');
      if (eq < 0) {
        this.bare.push(item);
        continue;
      }
      const key = item.slice(0, eq).trim();
      const value = item.slice(eq + 1).trim();
      if (!/^[a-z][a-z0-9_]*$/i.test(key)) throw new SpecError(`${name}: bad argument name '${key}'`);
      if (value === '') throw new SpecError(`${name}: argument '${key}' has no value`);
      if (this.named.has(key)) throw new SpecError(`${name}: argument '${key}' given twice`);
      this.named.set(key, value);
    }
  }

  has(key: string): boolean {
    return this.named.has(key);
  }

  /** Raw string value of key=value, or undefined. */
  get(key: string): string | undefined {
    const v = this.named.get(key);
    if (v !== undefined) this.used.add(key);
    return v;
  }

  /** A number argument key=value (or `fallback` when absent) within [min, max]. */
  number(key: string, opts: { min?: number; max?: number; integer?: boolean; fallback?: number } = {}): number {
    const raw = this.get(key);
    if (raw === undefined) {
      if (opts.fallback === undefined) throw new SpecError(`${this.name}: missing argument '${key}'`);
      return opts.fallback;
    }
    return this.checkNumber(key, raw, opts);
  }

  /** The next bare (positional) argument, or undefined. */
  positional(): string | undefined {
    if (this.bareUsed >= this.bare.length) return undefined;
    return this.bare[this.bareUsed++];
  }

  /** True when the bare word `flag` is present (consumes it wherever it is). */
  flag(flag: string): boolean {
    const i = this.bare.indexOf(flag);
    if (i < 0) return false;
    this.bare.splice(i, 1);
    return true;
  }

  checkNumber(what: string, raw: string, opts: { min?: number; max?: number; integer?: boolean }): number {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw)) throw new SpecError(`${this.name}: ${what} must be a number, got '${raw}'`);
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new SpecError(`${this.name}: ${what} must be finite, got '${raw}'`);
    if (opts.integer && !Number.isSafeInteger(v)) throw new SpecError(`${this.name}: ${what} must be an integer, got '${raw}'`);
    if (opts.min !== undefined && v < opts.min) throw new SpecError(`${this.name}: ${what} must be ≥ ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) throw new SpecError(`${this.name}: ${what} must be ≤ ${opts.max}, got ${v}`);
    return v;
  }

  /** Throws on any argument the factory did not consume. */
  done(): void {
    const extraNamed = [...this.named.keys()].filter((k) => !this.used.has(k));
    const extraBare = this.bare.slice(this.bareUsed);
    const extra = [...extraNamed, ...extraBare];
    if (extra.length > 0) throw new SpecError(`${this.name}: unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((e) => `'${e}'`).join(', ')}`);
  }
}

/** Builds a compressor from its parsed arguments; must call `args.done()` (or consume all args). */
export type CompressorFactory = (args: SpecArgs) => Compressor;

/** The names a spec may use. */
export type CompressorName = 'identity' | 'randk' | 'topk' | 'permk' | 'natural' | 'dither' | 'int8' | 'powersgd';

/**
 * Every compressor, by spec name: a literal table (no import-time registration, so a bundler that
 * drops unused modules keeps exactly what this table names).
 */
const COMPRESSORS = {
  identity: () => identity(),
  randk: (args) => randk(parseKeepRule(args)),
  topk: (args) => topk(parseKeepRule(args)),
  permk: () => permk(),
  natural: () => natural(),
  dither: (args) => {
    const rawP = args.get('p');
    const p = rawP === undefined ? 2 : rawP.toLowerCase() === 'inf' ? Infinity : args.checkNumber('p', rawP, { min: 1 });
    const s = args.number('s', { min: 1, max: 32, integer: true, fallback: 8 });
    return dither({ p, s });
  },
  int8: (args) => {
    const stochastic = args.flag('stochastic');
    const block = args.number('block', { min: 1, max: 32768, integer: true, fallback: 256 });
    return int8({ block, stochastic });
  },
  powersgd: (args) => powersgd(args.number('rank', { min: 1, max: 1024, integer: true })),
} satisfies Record<CompressorName, CompressorFactory>;

function isCompressorName(name: string): name is CompressorName {
  return Object.hasOwn(COMPRESSORS, name);
}

/** Names of all compressors, sorted. */
export function compressorNames(): CompressorName[] {
  return (Object.keys(COMPRESSORS) as CompressorName[]).sort();
}

function parseOne(part: string, whole: string): Compressor {
  const s = part.trim();
  if (s === '') throw new SpecError(`empty compressor name in '${whole}'`);
  const colon = s.indexOf(':');
  const name = (colon < 0 ? s : s.slice(0, colon)).trim().toLowerCase();
  const raw = colon < 0 ? '' : s.slice(colon + 1).trim();
  if (!isCompressorName(name)) {
    throw new SpecError(`unknown compressor '${name}' in '${whole}' (known: ${compressorNames().join(', ')})`);
  }
  const factory: CompressorFactory = COMPRESSORS[name];
  const args = new SpecArgs(name, raw);
  let c: Compressor;
  try {
    c = factory(args);
  } catch (e) {
    if (e instanceof SpecError) throw e;
    if (e instanceof RangeError) throw new SpecError(`${whole}: ${e.message}`);
    throw e;
  }
  args.done();
  return c;
}

/**
 * Parses a compressor spec. Throws SpecError naming what is wrong. A composition `a+b` needs a
 * sparsifier (RandK, TopK, PermK…) on the left and a fixed-rate value quantizer on the right.
 */
export function parseCompressor(spec: string): Compressor {
  if (typeof spec !== 'string' || spec.trim() === '') throw new SpecError('empty compressor spec');
  const parts = spec.split('+');
  if (parts.length === 1) return parseOne(parts[0], spec);
  if (parts.length > 2) throw new SpecError(`'${spec}': at most one '+' (a sparsifier then a value quantizer)`);
  const outer = parseOne(parts[0], spec);
  const inner = parseOne(parts[1], spec);
  if (!(outer instanceof SparseCompressor) || outer.inner.spec !== 'identity') {
    throw new SpecError(`'${spec}': the part before '+' must be a sparsifier (randk, topk, permk), got '${outer.spec}'`);
  }
  if (!isFixedRate(inner) || inner instanceof SparseCompressor) {
    throw new SpecError(`'${spec}': the part after '+' must be a value quantizer (natural, dither, int8, identity), got '${inner.spec}'`);
  }
  return new SparseCompressor(outer.sparsifier, inner);
}

/** Parses the `0.1` / `k=100` argument of a sparsifier. */
export function parseKeepRule(args: SpecArgs): KeepRule {
  const pos = args.positional();
  if (pos !== undefined) {
    if (args.has('k')) throw new SpecError(`${args.name}: give a fraction or k=…, not both`);
    const f = args.checkNumber('fraction', pos, {});
    if (!(f > 0 && f <= 1)) throw new SpecError(`${args.name}: fraction must be in (0, 1], got ${pos}`);
    return { fraction: f };
  }
  if (args.has('k')) return { k: args.number('k', { min: 1, integer: true }) };
  throw new SpecError(`${args.name}: needs a fraction (e.g. ${args.name}:0.1) or a count (${args.name}:k=100)`);
}
