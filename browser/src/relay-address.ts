/**
 * Where the relay is. The page is served by `masha relay --http`, which also answers
 * `/multiaddrs` with its addresses; the page dials the WebSocket ones. `?relay=MULTIADDR`
 * (repeatable) overrides that, for a page served elsewhere.
 */
export class RelayUnreachable extends Error {
  readonly code = 'relay-unreachable';
}

export async function relayAddresses(params: URLSearchParams, origin: string): Promise<string[]> {
  const given = params.getAll('relay').filter((a) => a.length > 0);
  if (given.length > 0) return given;
  let body: unknown;
  try {
    const res = await fetch(new URL('/multiaddrs', origin), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (e) {
    throw new RelayUnreachable(`cannot ask ${origin} for the relay's addresses (${(e as Error).message})`);
  }
  const list = (body as { multiaddrs?: unknown }).multiaddrs;
  const ws = Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string' && /\/wss?\//.test(a) && a.includes('/p2p/')) : [];
  if (ws.length === 0) throw new RelayUnreachable('the relay offers no WebSocket address');
  return ws;
}
