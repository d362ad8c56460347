/**
 * UTF-8 text ↔ bytes through the runtime's WHATWG `TextEncoder`/`TextDecoder`, which every
 * runtime Masha runs in has (Node, browsers, Web Workers). The protocol package compiles against
 * the ES library only (no DOM, no Node types), so the two constructors are typed here.
 */
interface Utf8Runtime {
  readonly TextEncoder: new () => { encode(text: string): Uint8Array };
  readonly TextDecoder: new (label: 'utf-8', options: { fatal: boolean }) => { decode(bytes: Uint8Array): string };
}

const runtime = globalThis as unknown as Utf8Runtime;
const encoder = new runtime.TextEncoder();
const strict = new runtime.TextDecoder('utf-8', { fatal: true });

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, throwing a TypeError on malformed bytes (callers turn it into their typed error). */
export function utf8DecodeStrict(bytes: Uint8Array): string {
  return strict.decode(bytes);
}
