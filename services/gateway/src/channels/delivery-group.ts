/**
 * A delivery group: the sockets that receive byte-identical frames for a change (same channel
 * topic, same subscription, same codec). A change is matched and encoded once per group and codec,
 * then handed to uWS topic publishing, which fans it out in C++ (invariant I4: never once per socket).
 */
import type { BusHeader, ChangeColumn, PhoenixCodec, ProtocolVersion, Row } from '@walcast/protocol';
import type { BusEntry } from './bus-subscriptions';

/** The parts of a change event filters need, parsed at most once per bus message. */
export interface ParsedChange {
  type: string;
  columns?: ChangeColumn[];
  record?: Row;
  old_record?: Row;
}

/** One bus message as the fan-out sees it. */
export interface IncomingChange {
  header: BusHeader;
  eventJson: string;
  /** Parses the event on first call and caches it; throws if the JSON is invalid. */
  parsed(): ParsedChange;
}

export type Publish = (uwsTopic: string, frame: string) => void;

export abstract class DeliveryGroup {
  /** Members per protocol version. */
  private readonly members: Record<ProtocolVersion, number> = { '1.0.0': 0, '2.0.0': 0 };

  constructor(
    /** Unique among live groups. */
    readonly key: string,
    readonly busEntry: BusEntry,
  ) {}

  get size(): number {
    return this.members['1.0.0'] + this.members['2.0.0'];
  }

  /** The uWS topic a socket of this codec subscribes to. */
  uwsTopic(vsn: ProtocolVersion): string {
    return `${vsn}|${this.key}`;
  }

  add(vsn: ProtocolVersion): void {
    this.members[vsn]++;
  }

  remove(vsn: ProtocolVersion): void {
    this.members[vsn]--;
  }

  /** Encodes the frame for every codec that has members and publishes it. */
  protected publishToMembers(
    publish: Publish,
    codecs: readonly PhoenixCodec[],
    encode: (codec: PhoenixCodec) => string,
  ): void {
    for (const codec of codecs) {
      if (this.members[codec.vsn] > 0) publish(this.uwsTopic(codec.vsn), encode(codec));
    }
  }

  /** Decides whether `change` goes to this group and publishes its frames. Never throws for bad data. */
  abstract deliver(change: IncomingChange, publish: Publish): void;
}
