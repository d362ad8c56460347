import { MashaError } from '@masha/protocol';

/**
 * A bad command-line flag or flag value. The message starts with the flag so the one-line error
 * names it, e.g. `--compressor: unknown compressor "foo"`. Exit code 2.
 */
export class UsageError extends MashaError {
  readonly flag: string;
  constructor(flag: string, message: string) {
    super('usage', `${flag}: ${message}`);
    this.flag = flag;
  }
}

/** Runs `fn`; a MashaError it throws (SpecError, ValidationError, …) is re-thrown as a UsageError naming `flag`. */
export function forFlag<T>(flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MashaError && !(e instanceof UsageError)) throw new UsageError(flag, e.message);
    throw e;
  }
}
