/**
 * Exit codes of the `masha` CLI and the errors that map to them.
 *   0  success (launch: the run reached its target; join: the run is over)
 *   1  the run ended without reaching its target, or an unexpected error
 *   2  bad flags, bad manifest (the message names the field), bad run id
 *   3  network: no relay reachable in time, run not announced
 *   130 interrupted (Ctrl-C / SIGTERM)
 */
import { MashaError, UsageError, ValidationError } from '@masha/protocol';
import { InvalidArgumentError } from 'commander';
import { NetError } from '../net/errors.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, network: 3, interrupted: 130 } as const;

/** A bad flag value; the message starts with the flag (one class for every CLI, in protocol/). */
export { UsageError };

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError || e instanceof ValidationError) return EXIT.usage;
  if (e instanceof NetError) {
    if (e.code === 'bad-run-id' || e.code === 'bad-token' || e.code === 'bad-address' || e.code === 'bad-config' || e.code === 'bad-key') return EXIT.usage;
    return EXIT.network;
  }
  if (e instanceof MashaError) return EXIT.usage;
  return EXIT.failed;
}

/**
 * The one error path of every Node entry point (`masha …`, `npm start`): one line on stderr —
 * `<where>: error: <message>` for errors in the user's terms (bad flags, manifests, relays),
 * `<where>: internal error: <message>` for anything else, with the stack only when MASHA_DEBUG is
 * set — and the exit code for the error (exitCodeOf).
 */
export function reportError(where: string, e: unknown, stderr: { write(chunk: string): unknown }): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = exitCodeOf(e);
  stderr.write(code === EXIT.failed ? `${where}: internal error: ${err.message}\n` : `${where}: error: ${err.message}\n`);
  if (process.env.MASHA_DEBUG) stderr.write(`${err.stack ?? ''}\n`);
  return code;
}

export function parseSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds.');
  return n;
}

export function parseMbps(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 100_000) throw new InvalidArgumentError('expected an upload rate in Mbit/s, in (0, 100000].');
  return n;
}

export function parseMebibytes(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of MiB.');
  return n;
}

export function parseRound(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a non-negative integer.');
  return Number(value);
}

export function parsePort(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a port number in [0, 65535].');
  const n = Number(value);
  if (n > 65535) throw new InvalidArgumentError('expected a port number in [0, 65535].');
  return n;
}

export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string): T => {
    if ((choices as readonly string[]).includes(value)) return value as T;
    throw new InvalidArgumentError(`expected one of ${choices.join(', ')}.`);
  };
}

/** Accumulates a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
