import { HeraldValidationError } from './errors.js';
import { validateEventType } from './event-types.js';
import { validateRunId, validateUserId } from './identifiers.js';

/** Body of `POST /v1/publish`. */
export interface PublishRequest {
  readonly user_id: string;
  readonly type: string;
  /** Any JSON value; omitted means null. */
  readonly data: unknown;
  readonly run_id?: string;
}

const PUBLISH_REQUEST_FIELDS: ReadonlySet<string> = new Set(['user_id', 'type', 'data', 'run_id']);

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
  const request: { user_id: string; type: string; data: unknown; run_id?: string } = {
    user_id: validateUserId(body['user_id']),
    type: validateEventType(body['type']),
    data: body['data'] === undefined ? null : body['data'],
  };
  if (body['run_id'] !== undefined) request.run_id = validateRunId(body['run_id']);
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
  /** Publish time as ISO 8601 (the event's `ts`). */
  readonly timestamp: string;
  /** Gateway nodes subscribed to the user when the event was published (0: the user has no open socket). */
  readonly nodes_reached: number;
  /** Sockets the gateways tried to send to; null unless delivery receipts were requested. */
  readonly connections_attempted: number | null;
  /** Sockets whose send was accepted; null unless delivery receipts were requested. */
  readonly successful_sends: number | null;
  readonly errors: readonly BroadcastError[];
}
