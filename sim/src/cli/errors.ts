import { MashaError, UsageError } from '@masha/protocol';

/** A bad command-line flag or flag value (one class for every CLI, in protocol/). */
export { UsageError };

/** Runs `fn`; a MashaError it throws (SpecError, ValidationError, …) is re-thrown as a UsageError naming `flag`. */
export function forFlag<T>(flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MashaError && !(e instanceof UsageError)) throw new UsageError(flag, e.message);
    throw e;
  }
}
