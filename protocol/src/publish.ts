import { HeraldValidationError } from './errors.js';
import { validateEventType } from './event-types.js';
import { validateIdempotencyKey, validateRunId, validateUserId } from './identifiers.js';

/** Body of `POST /v1/publish`. */
export interface PublishRequest {
  readonly user_id: string;
  readonly type: string;
  /** Any JSON value; omitted means null. */
  readonly data: unknown;
  readonly run_id?: string;
  /** A retry with the same key (within the idempotency window) publishes nothing new. */
  readonly idempotency_key?: string;
  /** Wait for delivery receipts from the gateway nodes. */
  readonly confirm?: boolean;
  /** How long to wait for receipts, in milliseconds. */
  readonly confirm_timeout_ms?: number;
}

/** The longest wait for delivery receipts a publish may ask for (`confirm_timeout_ms`). */
export const MAX_CONFIRM_TIMEOUT_MS = 30_000;
/** How long a publish with `confirm` waits for delivery receipts unless it says otherwise. */
export const DEFAULT_CONFIRM_TIMEOUT_MS = 2_000;

const PUBLISH_REQUEST_FIELDS: ReadonlySet<string> = new Set([
  'user_id',
  'type',
  'data',
  'run_id',
  'idempotency_key',
  'confirm',
  'confirm_timeout_ms',
]);

/** Returns the timeout unchanged, or throws HeraldValidationError(`invalid_option`). */
export function validateConfirmTimeout(value: unknown, field = 'confirm_timeout_ms'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_CONFIRM_TIMEOUT_MS) {
    throw new HeraldValidationError('invalid_option', `${field} must be an integer from 1 to ${MAX_CONFIRM_TIMEOUT_MS}`, field);
  }
  return value;
}

/** Checks a decoded publish body strictly: known fields only, each valid. Throws HeraldValidationError. */
export function validatePublishRequest(input: unknown): PublishRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new HeraldValidationError('invalid_body', 'body must be a JSON object');
  }
  const body = input as Record<string, unknown>;
  for (const field of Object.keys(body)) {
    if (!PUBLISH_REQUEST_FIELDS.has(field)) {
      throw new HeraldValidationError(
        'unknown_field',
        `unknown field ${JSON.stringify(field)} (allowed: ${[...PUBLISH_REQUEST_FIELDS].join(', ')})`,
        field,
      );
    }
  }
  for (const field of ['user_id', 'type'] as const) {
    if (!(field in body)) {
      throw new HeraldValidationError('missing_field', `${field} is required`, field);
    }
  }
  const request: {
    -readonly [K in keyof PublishRequest]: PublishRequest[K];
  } = {
    user_id: validateUserId(body['user_id']),
    type: validateEventType(body['type']),
    data: body['data'] === undefined ? null : body['data'],
  };
  if (body['run_id'] !== undefined) request.run_id = validateRunId(body['run_id']);
  if (body['idempotency_key'] !== undefined) request.idempotency_key = validateIdempotencyKey(body['idempotency_key']);
  if (body['confirm'] !== undefined) {
    if (typeof body['confirm'] !== 'boolean') {
      throw new HeraldValidationError('invalid_option', 'confirm must be true or false', 'confirm');
    }
    request.confirm = body['confirm'];
  }
  if (body['confirm_timeout_ms'] !== undefined) {
    request.confirm_timeout_ms = validateConfirmTimeout(body['confirm_timeout_ms']);
  }
  return request;
}

/** Parses and validates a publish body given as JSON text. Throws HeraldValidationError. */
export function parsePublishRequest(json: string): PublishRequest {
  let decoded: unknown;
  try {
    decoded = JSON.parse(json);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HeraldValidationError('invalid_json', `body is not valid JSON: ${reason}`);
  }
  return validatePublishRequest(decoded);
}

/** A problem reaching some of the user's connections; the event itself was published. */
export interface BroadcastError {
  readonly code: string;
  readonly message: string;
  /** The gateway node concerned, when known. */
  readonly node?: string;
}

/** What a publish achieved. Returned by the publisher SDK and by `POST /v1/publish`. */
export interface BroadcastResult {
  readonly user_id: string;
  readonly event_type: string;
  readonly event_id: string;
  /** Publish time as ISO 8601: the event's `ts` (for a duplicate, the original event's). */
  readonly timestamp: string;
  /**
   * True when the idempotency key had already published this event (a caller's retry, or the
   * SDK's own retry after a lost reply): nothing was sent now.
   */
  readonly duplicate: boolean;
  /** Gateway nodes subscribed to the user when the event was published (0: no open socket, or a duplicate). */
  readonly nodes_reached: number;
  /** Sockets the gateways tried to send to, summed over the nodes that answered; null without `confirm`. */
  readonly connections_attempted: number | null;
  /** Sockets whose send was accepted (not dropped for backpressure), summed likewise; null without `confirm`. */
  readonly successful_sends: number | null;
  readonly errors: readonly BroadcastError[];
}
