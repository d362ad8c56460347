import { MashaError } from '@masha/protocol';

/**
 * Typed errors of the network layer. `code` is stable and machine-readable:
 * - `relay-unreachable`: none of the bootstrap/relay addresses could be dialled in time;
 * - `frame-too-large`: a caller tried to send more bytes than the configured frame size;
 * - `bad-address`: a multiaddr string did not parse or lacks the parts we need;
 * - `send-failed`: a direct stream to a peer could not be opened or written;
 * - `closed`: the transport was used after `close()`.
 */
export class NetError extends MashaError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}
