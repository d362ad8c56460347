/**
 * Byte counting for a libp2p node, plugged in as its `metrics` implementation.
 *
 * - Connection level (`trackMultiaddrConnection`): the bytes of the raw transport connection
 *   (TCP / WebSocket), i.e. what goes on the wire including noise and yamux framing. WebRTC
 *   connections carry their data on data channels rather than on the multiaddr connection, so
 *   they show up only at the protocol level.
 * - Protocol level (`trackProtocolStream`): the bytes each negotiated protocol stream
 *   (gossipsub, `/masha/uplink/1.0.0`, identify, …) sends and receives above the muxer.
 *
 * libp2p's message streams deliver inbound data through their `onData` hook and hand outbound
 * data to `sendData`; the meter wraps those two methods on each tracked instance. A stream type
 * without them is left alone (and is then simply not counted). Every other metric libp2p
 * registers is accepted and ignored.
 */
import type {
  Counter,
  CounterGroup,
  Histogram,
  HistogramGroup,
  Metric,
  MetricGroup,
  Metrics,
  MultiaddrConnection,
  StopTimer,
  Stream,
  Summary,
  SummaryGroup,
} from '@libp2p/interface';

/** Sent/received byte totals. */
export interface ByteCount {
  sent: number;
  received: number;
}

export interface WireCounts {
  /** Raw connection bytes (transport level, including encryption and muxing overhead). */
  readonly connections: ByteCount;
  /** Per negotiated protocol, bytes above the muxer. */
  readonly protocols: Readonly<Record<string, ByteCount>>;
}

interface ByteLike {
  readonly byteLength: number;
}

interface SendResult {
  readonly sentBytes: number;
}

/** The protected hooks of libp2p's AbstractMessageStream that the meter wraps. */
interface Hookable {
  onData?: (data: ByteLike) => void;
  sendData?: (data: ByteLike) => SendResult;
}

const noopStop: StopTimer = () => {};

const noopMetric: Metric & MetricGroup & Counter & CounterGroup & Histogram & HistogramGroup & Summary & SummaryGroup = {
  update: () => {},
  increment: () => {},
  decrement: () => {},
  reset: () => {},
  observe: () => {},
  timer: () => noopStop,
};

function hook(target: Hookable, into: ByteCount): boolean {
  const onData = target.onData;
  const sendData = target.sendData;
  if (typeof onData !== 'function' || typeof sendData !== 'function') return false;
  target.onData = (data: ByteLike): void => {
    into.received += data.byteLength;
    onData.call(target, data);
  };
  target.sendData = (data: ByteLike): SendResult => {
    const result = sendData.call(target, data);
    into.sent += result.sentBytes;
    return result;
  };
  return true;
}

export class WireMeter {
  private readonly conn: ByteCount = { sent: 0, received: 0 };
  private readonly perProtocol = new Map<string, ByteCount>();

  /** A snapshot of the counters (copies: later traffic does not change it). */
  snapshot(): WireCounts {
    const protocols: Record<string, ByteCount> = {};
    for (const [name, c] of this.perProtocol) protocols[name] = { sent: c.sent, received: c.received };
    return { connections: { ...this.conn }, protocols };
  }

  /** The libp2p `metrics` factory bound to this meter. */
  factory(): () => Metrics {
    return () => this.asMetrics();
  }

  private protocolCount(protocol: string): ByteCount {
    let c = this.perProtocol.get(protocol);
    if (c === undefined) {
      c = { sent: 0, received: 0 };
      this.perProtocol.set(protocol, c);
    }
    return c;
  }

  private asMetrics(): Metrics {
    const register = (): typeof noopMetric => noopMetric;
    const metrics: Metrics = {
      trackMultiaddrConnection: (maConn: MultiaddrConnection): void => {
        hook(maConn as unknown as Hookable, this.conn);
      },
      trackProtocolStream: (stream: Stream): void => {
        const protocol = stream.protocol === '' ? 'unknown' : stream.protocol;
        hook(stream as unknown as Hookable, this.protocolCount(protocol));
      },
      registerMetric: register as Metrics['registerMetric'],
      registerMetricGroup: register as Metrics['registerMetricGroup'],
      registerCounter: register as Metrics['registerCounter'],
      registerCounterGroup: register as Metrics['registerCounterGroup'],
      registerHistogram: register as Metrics['registerHistogram'],
      registerHistogramGroup: register as Metrics['registerHistogramGroup'],
      registerSummary: register as Metrics['registerSummary'],
      registerSummaryGroup: register as Metrics['registerSummaryGroup'],
      traceFunction: (<F>(_name: string, fn: F): F => fn) as Metrics['traceFunction'],
      createTrace: (): undefined => undefined,
    };
    return metrics;
  }
}
