/**
 * Option-value parsers for commander. They throw commander's InvalidArgumentError, which commander
 * reports as one line naming the flag: `error: option '--d <n>' argument 'x' is invalid. …`.
 */
import { InvalidArgumentError } from 'commander';

export function parsePositiveInt(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError('expected a positive integer.');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function parseNonNegativeInt(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError('expected a non-negative integer.');
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer.');
  return n;
}

/** A seed: an unsigned 32-bit integer. */
export function parseSeed(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError('expected an integer in [0, 2^32).');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new InvalidArgumentError('expected an integer in [0, 2^32).');
  return n;
}

export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive finite number.');
  }
  return n;
}

export function parseNonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('expected a non-negative finite number.');
  }
  return n;
}

/** A number in [0, 1). */
export function parseUnitInterval(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) {
    throw new InvalidArgumentError('expected a number in [0, 1).');
  }
  return n;
}

/** Returns a parser accepting exactly one of `choices`. */
export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string): T => {
    if ((choices as readonly string[]).includes(value)) return value as T;
    throw new InvalidArgumentError(`expected one of ${choices.join(', ')}.`);
  };
}
