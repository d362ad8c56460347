/**
 * Typed errors. Every error that untrusted input (network bytes, files, CLI flags) can raise is a
 * subclass of MashaError with a stable machine-readable `code`.
 */
export class MashaError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A value failed validation; `field` names the offending field as a dotted path (e.g. `A[2][3][7]`). */
export class ValidationError extends MashaError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('invalid', field ? `${field}: ${message}` : message);
    this.field = field;
  }
}

/** A compressed payload could not be decoded (wrong length, out-of-range index, non-finite value...). */
export class PayloadError extends MashaError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** A compressor spec string such as `randk:0.1` could not be parsed. */
export class SpecError extends MashaError {
  constructor(message: string) {
    super('bad-spec', message);
  }
}

/**
 * A bad command-line flag or flag value, in every CLI of the project (`masha`, `masha-sim`). The
 * message starts with the flag so the one-line error names it, e.g. `--compressor: unknown
 * compressor "foo"`. Exit code 2.
 */
export class UsageError extends MashaError {
  readonly flag: string;
  constructor(flag: string, message: string) {
    super('usage', `${flag}: ${message}`);
    this.flag = flag;
  }
}
