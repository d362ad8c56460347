import type { Prox } from './types.js';
import { SpecError, ValidationError } from '../errors.js';
import { BallProx, BoxProx, IdentityProx, L1Prox, SquaredNormProx } from './basic.js';
import { SimplexProx } from './simplex.js';

/**
 * Prox specs: `identity`, `ball:r=1` (or `ball:1`), `box:lo=-1,hi=1`, `simplex` (or `simplex:s=2`),
 * `l1:lambda=0.1` (or `l1:0.1`), `l2:mu=0.1` (or `l2:0.1`). Throws SpecError on anything else.
 */
export function parseProx(spec: string): Prox {
  if (typeof spec !== 'string' || spec.trim() === '') throw new SpecError('empty prox spec');
  const s = spec.trim();
  const colon = s.indexOf(':');
  const name = (colon < 0 ? s : s.slice(0, colon)).trim().toLowerCase();
  const args = parseArgs(name, colon < 0 ? '' : s.slice(colon + 1));
  const take = (key: string, positional: boolean, fallback?: number): number => {
    let raw = args.named.get(key);
    if (raw !== undefined) args.named.delete(key);
    else if (positional && args.bare.length > 0) raw = args.bare.shift();
    if (raw === undefined) {
      if (fallback === undefined) throw new SpecError(`${name}: missing argument '${key}' in '${spec}'`);
      return fallback;
    }
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw)) throw new SpecError(`${name}: ${key} must be a number, got '${raw}'`);
    return Number(raw);
  };
  let prox: Prox;
  try {
    switch (name) {
      case 'identity':
      case 'none':
        prox = new IdentityProx();
        break;
      case 'ball':
        prox = new BallProx(take('r', true));
        break;
      case 'box':
        prox = new BoxProx(take('lo', false), take('hi', false));
        break;
      case 'simplex':
        prox = new SimplexProx(take('s', true, 1));
        break;
      case 'l1':
        prox = new L1Prox(take('lambda', true));
        break;
      case 'l2':
        prox = new SquaredNormProx(take('mu', true));
        break;
      default:
        throw new SpecError(`unknown prox '${name}' in '${spec}' (known: identity, ball, box, simplex, l1, l2)`);
    }
  } catch (e) {
    if (e instanceof ValidationError) throw new SpecError(`'${spec}': ${e.message}`);
    throw e;
  }
  const extra = [...args.named.keys(), ...args.bare];
  if (extra.length > 0) throw new SpecError(`${name}: unexpected argument(s) ${extra.map((x) => `'${x}'`).join(', ')} in '${spec}'`);
  return prox;
}

function parseArgs(name: string, raw: string): { named: Map<string, string>; bare: string[] } {
  const named = new Map<string, string>();
  const bare: string[] = [];
  if (raw.trim() === '') return { named, bare };
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') throw new SpecError(`${name}: empty argument in '${raw}'`);
    const eq = item.indexOf('=');
    if (eq < 0) {
      bare.push(item);
      continue;
    }
    const key = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim();
    if (named.has(key)) throw new SpecError(`${name}: argument '${key}' given twice`);
    named.set(key, value);
  }
  return { named, bare };
}
