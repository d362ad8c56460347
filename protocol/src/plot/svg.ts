/** Small helpers for writing SVG markup as strings (no DOM). */

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for use in XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

/** Formats a coordinate with at most two decimals and no trailing zeros ("12.5", "-3"). */
export function fmt(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

export type Attrs = Readonly<Record<string, string | number | undefined>>;

/** `<name a="1" b="x">children</name>` (self-closing when there are no children). */
export function el(name: string, attrs: Attrs, children?: string | readonly string[]): string {
  let s = `<${name}`;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    s += ` ${k}="${typeof v === 'number' ? fmt(v) : escapeXml(v)}"`;
  }
  const body = children === undefined ? '' : typeof children === 'string' ? children : children.join('');
  return body === '' ? `${s}/>` : `${s}>${body}</${name}>`;
}

/** `<text>` element; the content is escaped. */
export function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return el('text', { x, y, ...attrs }, escapeXml(content));
}

const SUPERSCRIPT: Record<string, string> = {
  '0': '⁰',
  '1': '¹',
  '2': '²',
  '3': '³',
  '4': '⁴',
  '5': '⁵',
  '6': '⁶',
  '7': '⁷',
  '8': '⁸',
  '9': '⁹',
  '-': '⁻',
};

/** 10 to an integer power written with Unicode superscripts, e.g. `10⁻⁶`. */
export function powerOfTen(exponent: number): string {
  return '10' + String(exponent).replace(/[-0-9]/g, (c) => SUPERSCRIPT[c] ?? c);
}
