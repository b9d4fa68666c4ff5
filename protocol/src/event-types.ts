import { HeraldValidationError } from './errors.js';
import { CONTROL_FRAME_PREFIX } from './frames.js';

/** The events an agent run emits, in the order a run emits them. */
export const GOLDEN_PATH_EVENT_TYPES = [
  'agent_started',
  'agent_thinking',
  'tool_executing',
  'tool_completed',
  'agent_completed',
] as const;

/** One of the five golden-path event types. */
export type GoldenPathEventType = (typeof GOLDEN_PATH_EVENT_TYPES)[number];

/** The longest event type, in characters. */
export const MAX_EVENT_TYPE_LENGTH = 64;

// Custom types are allowed next to the golden path; `herald.` is reserved for control frames.
const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(?:[.:-][a-z0-9_]+)*$/;

/** Whether `value` is one of the five golden-path event types. */
export function isGoldenPathEventType(value: unknown): value is GoldenPathEventType {
  return typeof value === 'string' && (GOLDEN_PATH_EVENT_TYPES as readonly string[]).includes(value);
}

/** Returns the event type unchanged, or throws HeraldValidationError(`invalid_type`). */
export function validateEventType(value: unknown, field = 'type'): string {
  if (typeof value !== 'string') {
    throw new HeraldValidationError('invalid_type', `${field} must be a string`, field);
  }
  if (value.startsWith(CONTROL_FRAME_PREFIX)) {
    throw new HeraldValidationError(
      'invalid_type',
      `${field} must not start with "${CONTROL_FRAME_PREFIX}" (reserved for control frames)`,
      field,
    );
  }
  if (value.length === 0 || value.length > MAX_EVENT_TYPE_LENGTH || !EVENT_TYPE_PATTERN.test(value)) {
    throw new HeraldValidationError(
      'invalid_type',
      `${field} must be 1-${MAX_EVENT_TYPE_LENGTH} characters of lowercase letters, digits and _ ` +
        `(segments may be joined by . : -), starting with a letter, e.g. "agent_started" (got ${JSON.stringify(value)})`,
      field,
    );
  }
  return value;
}
