import { ValidationError } from '../errors.js';
import type { MethodConfig } from './common.js';
import { createEfGda, createQgda } from './gda.js';
import { createEg, createQeg } from './extragradient.js';
import { createMasha1 } from './masha1.js';
import { createMasha2 } from './masha2.js';
import type { MethodInstance, MethodName } from './types.js';

export type MethodFactory = (config: MethodConfig) => MethodInstance;

const factories = new Map<string, MethodFactory>([
  ['masha1', createMasha1],
  ['masha2', createMasha2],
  ['eg', createEg],
  ['qeg', createQeg],
  ['qgda', createQgda],
  ['ef-gda', createEfGda],
]);

/**
 * Compressor specs of the seed's Figure 1 comparison (SPEC §3.3): what `createMethod` callers use
 * when the user names none.
 */
export const DEFAULT_COMPRESSOR: Readonly<Record<Exclude<MethodName, 'marina'>, string>> = {
  masha1: 'dither:p=2,s=8',
  masha2: 'topk:0.3',
  eg: 'identity',
  qeg: 'natural',
  qgda: 'dither:p=2,s=8',
  'ef-gda': 'topk:0.3',
};

/** Adds a method defined elsewhere (e.g. MARINA) to `createMethod`. Throws if the name is taken. */
export function registerMethod(name: MethodName, factory: MethodFactory): void {
  if (factories.has(name)) throw new ValidationError('method', `method '${name}' is already registered`);
  factories.set(name, factory);
}

export function methodNames(): string[] {
  return [...factories.keys()].sort();
}

/**
 * Creates a method instance by name (`masha1`, `masha2`, `eg`, `qeg`, `qgda`, `ef-gda`; `marina`
 * registers itself from marina.ts, so it is known once that module is loaded, e.g. via the barrel).
 */
export function createMethod(name: string, config: MethodConfig): MethodInstance {
  const f = factories.get(name);
  if (!f) throw new ValidationError('method', `unknown method '${name}' (known: ${methodNames().join(', ')})`);
  return f(config);
}
