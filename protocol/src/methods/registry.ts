import { ValidationError } from '../errors.js';
import type { MethodConfig } from './common.js';
import { createEfGda, createQgda } from './gda.js';
import { createEg, createQeg } from './extragradient.js';
import { createMasha1 } from './masha1.js';
import { createMasha2 } from './masha2.js';
import { createMarina } from './marina.js';
import type { MethodInstance, MethodName } from './types.js';

export type MethodFactory = (config: MethodConfig) => MethodInstance;

/** Every method, by name: a literal table (no import-time registration). */
const METHODS = {
  masha1: createMasha1,
  masha2: createMasha2,
  eg: createEg,
  qeg: createQeg,
  qgda: createQgda,
  'ef-gda': createEfGda,
  marina: createMarina,
} satisfies Record<MethodName, MethodFactory>;

function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHODS, name);
}

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

export function methodNames(): MethodName[] {
  return (Object.keys(METHODS) as MethodName[]).sort();
}

/** Creates a method instance by name (`masha1`, `masha2`, `eg`, `qeg`, `qgda`, `ef-gda`, `marina`). */
export function createMethod(name: string, config: MethodConfig): MethodInstance {
  if (!isMethodName(name)) throw new ValidationError('method', `unknown method '${name}' (known: ${methodNames().join(', ')})`);
  const f: MethodFactory = METHODS[name];
  return f(config);
}
