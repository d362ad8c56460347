/**
 * zod's issues in the user's words. zod says "Too small: expected array to have >=10 items" or
 * "Unrecognized key: \"methd\""; a person editing a manifest or a problem file needs "must have 10
 * entries, got 9" and "unknown field 'methd' — did you mean 'method'?". Every schema of untrusted
 * input (manifests, problem files, traces, run summaries) reports its first issue through
 * `zodValidationError`, which names the field as a dotted path (`problem.spectrum[1]`).
 *
 * Domain-specific wording ("A must have M = 10 matrices of d × d") is given where the schema is
 * built (zod's per-check `error` option); this module words everything else.
 */
import leven from 'leven';
import { z } from 'zod';
import { ValidationError } from './errors.js';

/** Formats a zod issue path as `problem.spectrum[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}

/** The closest of `known` to `word`, if it is close enough to be a typo. */
export function closest(word: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = leven(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3)) ? best : null;
}

/** A value as it reads in a message: strings quoted, long things shortened. */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'an object';
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  tuple: 'a list',
  record: 'an object',
  null: 'null',
  literal: 'a fixed value',
};

/** The object schemas a value at `path` of `root` may have to match (unions: every fitting option). */
function objectsAt(schema: z.ZodType, path: readonly PropertyKey[], value: unknown): z.ZodObject[] {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    return objectsAt(schema.unwrap() as z.ZodType, path, value);
  }
  if (schema instanceof z.ZodPipe) return objectsAt(schema.in as z.ZodType, path, value);
  if (schema instanceof z.ZodUnion) {
    const options = schema.options as readonly z.ZodType[];
    // A discriminated union: only the options whose tag matches the value's.
    const tag = (schema.def as { discriminator?: string }).discriminator ?? 'kind';
    const fitting = options.filter((o) => {
      if (!(o instanceof z.ZodObject) || value === null || typeof value !== 'object') return true;
      const kind = (value as Record<string, unknown>)[tag];
      const lit = (o.shape as Record<string, z.ZodType>)[tag];
      return !(lit instanceof z.ZodLiteral) || kind === undefined || lit.values.has(kind as never);
    });
    return fitting.flatMap((o) => objectsAt(o, path, value));
  }
  if (path.length === 0) return schema instanceof z.ZodObject ? [schema] : [];
  const [head, ...rest] = path;
  const child = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[head] : undefined;
  if (schema instanceof z.ZodObject) {
    const next = (schema.shape as Record<string, z.ZodType | undefined>)[String(head)];
    return next === undefined ? [] : objectsAt(next, rest, child);
  }
  if (schema instanceof z.ZodArray) return objectsAt(schema.element as z.ZodType, rest, child);
  if (schema instanceof z.ZodRecord) return objectsAt(schema.valueType as z.ZodType, rest, child);
  return [];
}

/** One issue in words (without the field, which the caller puts in front). */
export function describeIssue(issue: z.core.$ZodIssue, context: { schema?: z.ZodType; value?: unknown } = {}): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type': {
      const want = TYPE_WORDS[issue.expected] ?? issue.expected;
      return input === undefined ? `missing: must be ${want}` : `must be ${want}, got ${shown(input)}`;
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = Number(small ? issue.minimum : issue.maximum);
      const exact = (issue as { exact?: boolean }).exact === true;
      if (issue.origin === 'array' || issue.origin === 'set') {
        const n = Array.isArray(input) ? `, got ${input.length}` : '';
        return exact ? `must have exactly ${bound} entries${n}` : `must have ${small ? 'at least' : 'at most'} ${bound} entries${n}`;
      }
      if (issue.origin === 'string') return `must be ${small ? 'at least' : 'at most'} ${bound} characters long`;
      const inclusive = issue.inclusive !== false;
      const rel = small ? (inclusive ? 'at least' : 'greater than') : inclusive ? 'at most' : 'less than';
      return `must be ${rel} ${bound}${input !== undefined ? `, got ${shown(input)}` : ''}`;
    }
    case 'unrecognized_keys': {
      const known =
        context.schema !== undefined ? [...new Set(objectsAt(context.schema, issue.path, context.value).flatMap((o) => Object.keys(o.shape as object)))] : [];
      return issue.keys
        .map((k) => {
          const guess = closest(k, known);
          if (guess !== null) return `unknown field '${k}' — did you mean '${guess}'?`;
          return known.length > 0 ? `unknown field '${k}' (known fields: ${known.join(', ')})` : `unknown field '${k}'`;
        })
        .join('; ');
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
      const guess =
        typeof input === 'string'
          ? closest(
              input,
              issue.values.filter((v): v is string => typeof v === 'string'),
            )
          : null;
      const got = input !== undefined ? `, got ${shown(input)}${guess !== null ? ` — did you mean '${guess}'?` : ''}` : '';
      return values.length === 1 ? `must be ${values[0]}${got}` : `must be one of ${values.join(', ')}${got}`;
    }
    case 'invalid_union': {
      const note = (issue as { note?: string; discriminator?: string }).discriminator;
      return note !== undefined
        ? `'${note}' must name one of the known kinds${input !== undefined ? `, got ${shown((input as Record<string, unknown> | null)?.[note])}` : ''}`
        : 'matches none of the allowed forms';
    }
    case 'invalid_format':
      return `must be ${issue.format === 'regex' ? 'in the expected format' : `a valid ${issue.format}`}${input !== undefined ? `, got ${shown(input)}` : ''}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      return issue.message;
    default: {
      const never: never = issue;
      return (never as { message: string }).message;
    }
  }
}

/**
 * The first issue of a failed parse as a ValidationError naming the field, in words. Parse with
 * `{ reportInput: true }` so that messages can quote the offending value; `schema` and `value`
 * let an unknown field be matched against the known ones.
 */
export interface IssueContext {
  /** The schema parsed (to name the known fields of an object with an unknown one). */
  readonly schema?: z.ZodType;
  /** The value parsed. */
  readonly value?: unknown;
  /** Field name for an issue at the top level (default: none). */
  readonly root?: string;
  /** Words of the domain for some issues (`A` of a problem file: "must hold M = 10 matrices…"); null: the generic words. */
  readonly domain?: (issue: z.core.$ZodIssue) => string | null;
}

export function zodValidationError(error: z.ZodError, context: IssueContext = {}): ValidationError {
  // A misspelt field also leaves the real one missing: name the typo, which is the cause.
  const issue = error.issues.find((i) => i.code === 'unrecognized_keys') ?? error.issues[0];
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  const field = formatPath(issue.path);
  const words = context.domain?.(issue) ?? describeIssue(issue, context);
  return new ValidationError(field === '' ? (context.root ?? '') : field, `${words}${more}`);
}

/** The length of an array a zod issue complains about, as text ("9"), or "?" when not an array. */
export function issueLength(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  return Array.isArray(input) ? String(input.length) : '?';
}
