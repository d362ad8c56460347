import { hashString } from '../rng/streams.js';

/** Header phase code of a named method phase (control messages use 0). */
export function phaseCode(name: string): number {
  return 1 + (hashString(name) % 0xfffe);
}
