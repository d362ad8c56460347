import type { HostRecord, RecordKind } from '../host/records.js';

/**
 * Where a host's records go (events.jsonl in the network and the simulator, nowhere in
 * benchmarks). The sink stamps each record with its own clock. `wants` says which kinds it keeps;
 * the host builds no record of another kind. The set is fixed: the host reads it when it is made.
 */
export interface EventSink {
  readonly wants: ReadonlySet<RecordKind>;
  record(record: HostRecord): void;
}
