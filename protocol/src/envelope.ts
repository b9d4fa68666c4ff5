import { HeraldValidationError } from './errors.js';
import { parseEventIdBytes, type EventIdParts } from './event-id.js';
import { utf8ByteLength } from './utf8.js';

/** An event as every client receives it. */
export interface EventEnvelope<TData = unknown> {
  /** The event id (see event-id.ts); clients resume from the last one they saw. */
  readonly id: string;
  readonly type: string;
  /** Publish time, milliseconds since the Unix epoch, stamped by the publisher. */
  readonly ts: number;
  readonly user_id: string;
  readonly run_id?: string;
  readonly data: TData;
}

/** An event before Redis has given it an id: what a publisher encodes. */
export type EventFields = Omit<EventEnvelope, 'id'>;

/** Default and recommended upper bound for one encoded event (id included). */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;

/**
 * Every event payload starts with this, followed by the id and `",`. Putting the id first lets
 * the gateway read it from the raw bytes without parsing the event.
 */
export const EVENT_PAYLOAD_ID_PREFIX = '{"id":"';

// Room for `{"id":"` + a stream id of two 20-digit numbers + `",`.
const ID_OVERHEAD_BYTES = EVENT_PAYLOAD_ID_PREFIX.length + 41 + 2;

/**
 * Encodes an event without its id: the JSON members that follow `"id"`, ending with `}`.
 * This is what a publisher sends to Redis, where the id is assigned; `joinEventPayload`
 * completes it. Throws HeraldValidationError for data that is not JSON or too large.
 */
export function encodeEventBody(fields: EventFields, maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES): string {
  const data: unknown = fields.data === undefined ? null : fields.data;
  const kind = typeof data;
  if (kind === 'function' || kind === 'symbol' || kind === 'bigint') {
    throw new HeraldValidationError('invalid_data', `data must be JSON-serialisable (got a ${kind})`, 'data');
  }
  // Written member by member: the same text JSON.stringify gives the ordered event, without
  // building it (this runs once per published event). `data` goes through a one-member object so
  // that a toJSON sees the key "data" and a data that serialises to nothing leaves the member out.
  let dataMember: string;
  try {
    dataMember = JSON.stringify({ data }).slice(1, -1);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HeraldValidationError('invalid_data', `data must be JSON-serialisable: ${reason}`, 'data');
  }
  let body = `"type":${JSON.stringify(fields.type)},"ts":${JSON.stringify(fields.ts)},"user_id":${JSON.stringify(fields.user_id)}`;
  if (fields.run_id !== undefined) body += `,"run_id":${JSON.stringify(fields.run_id)}`;
  body += dataMember === '' ? '}' : `,${dataMember}}`;
  if (utf8ByteLength(body) + ID_OVERHEAD_BYTES > maxEventBytes) {
    throw new HeraldValidationError(
      'payload_too_large',
      `event is larger than the limit of ${maxEventBytes} bytes once encoded`,
      'data',
    );
  }
  return body;
}

/** The complete event payload, exactly as clients receive it. */
export function joinEventPayload(id: string, body: string): string {
  return EVENT_PAYLOAD_ID_PREFIX + id + '",' + body;
}

/** The id of an event payload made by `joinEventPayload`, or undefined if it is not one. */
export function eventIdOfPayload(payload: string): string | undefined {
  if (!payload.startsWith(EVENT_PAYLOAD_ID_PREFIX)) return undefined;
  const end = payload.indexOf('"', EVENT_PAYLOAD_ID_PREFIX.length);
  return end < 0 ? undefined : payload.slice(EVENT_PAYLOAD_ID_PREFIX.length, end);
}

const ID_PREFIX_BYTES: readonly number[] = [...EVENT_PAYLOAD_ID_PREFIX].map((char) => char.charCodeAt(0));

/**
 * The id of an event payload read straight from its bytes, without decoding or parsing the
 * event; undefined when the bytes are not an event payload.
 */
export function eventIdPartsOfPayload(payload: Uint8Array): EventIdParts | undefined {
  for (let i = 0; i < ID_PREFIX_BYTES.length; i++) {
    if (payload[i] !== ID_PREFIX_BYTES[i]) return undefined;
  }
  return parseEventIdBytes(payload, ID_PREFIX_BYTES.length);
}

const TS_MARKER: readonly number[] = [...',"ts":'].map((char) => char.charCodeAt(0));
// The id and type come first and are short; the timestamp is found within this many bytes.
const TS_SEARCH_LIMIT = 256;

/** The `ts` of an event payload read from its bytes (milliseconds), or undefined. */
export function eventTimestampOfPayload(payload: Uint8Array): number | undefined {
  const end = Math.min(payload.length, TS_SEARCH_LIMIT);
  search: for (let i = ID_PREFIX_BYTES.length; i + TS_MARKER.length < end; i++) {
    for (let j = 0; j < TS_MARKER.length; j++) {
      if (payload[i + j] !== TS_MARKER[j]) continue search;
    }
    let ts = 0;
    let digits = 0;
    for (let k = i + TS_MARKER.length; k < payload.length; k++) {
      const byte = payload[k] as number;
      if (byte < 0x30 || byte > 0x39) break;
      ts = ts * 10 + (byte - 0x30);
      digits += 1;
    }
    return digits > 0 && digits <= 16 ? ts : undefined;
  }
  return undefined;
}
