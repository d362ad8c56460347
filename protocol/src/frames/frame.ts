/** A decoded frame: its header fields and a view of its chunk payload. */
export interface FrameHeader {
  readonly version: number;
  /** Run id as 64 lower-case hex digits. */
  readonly runId: string;
  readonly epoch: number;
  readonly round: number;
  readonly phase: number;
  readonly kind: number;
  readonly sender: string;
  readonly messageId: number;
  /** Chunk index i in [0, count). */
  readonly index: number;
  /** Chunk count n = max(1, ⌈totalLength / stride⌉). */
  readonly count: number;
  readonly codec: number;
  /** Length of the whole message body in bytes. */
  readonly totalLength: number;
  /** Payload bytes of every chunk but the last; chunk i starts at byte i·stride of the body. */
  readonly stride: number;
  /** Message digest: CRC-32C over the digest fields and all chunk CRCs (see `messageDigest`). */
  readonly digest: number;
}

export interface Frame extends FrameHeader {
  /** This chunk's payload: a view into the decoded bytes (copy it if the buffer is reused). */
  readonly payload: Uint8Array;
  /** CRC-32C of the payload, as carried (and verified) in the header. */
  readonly payloadCrc: number;
  /** Size of the whole frame on the wire. */
  readonly frameBytes: number;
}
