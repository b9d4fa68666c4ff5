import { HeraldValidationError } from '@herald/protocol';
import type { PublishOptions } from './publisher.js';

const KNOWN: ReadonlySet<string> = new Set(['runId', 'idempotencyKey', 'confirm', 'timeoutMs']);

/**
 * Refuses options the SDK would otherwise ignore or misread, as the HTTP API refuses them: an
 * unknown name (a typo such as `idempotencykey` would publish without the caller's key) and a
 * `confirm` that is not a boolean.
 */
export function checkPublishOptions(options: unknown): PublishOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new HeraldValidationError('invalid_option', 'options must be an object', 'options');
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) {
      throw new HeraldValidationError('unknown_field', `unknown publish option ${JSON.stringify(name)} (known: ${[...KNOWN].join(', ')})`, name);
    }
  }
  const { confirm } = options as { confirm?: unknown };
  if (confirm !== undefined && typeof confirm !== 'boolean') {
    throw new HeraldValidationError('invalid_option', `confirm must be true or false (got ${JSON.stringify(confirm)})`, 'confirm');
  }
  return options as PublishOptions;
}

/** The golden-path helpers take the run id as an argument: it must be given. */
export function requireRunId(runId: unknown): void {
  if (runId === undefined) throw new HeraldValidationError('missing_field', 'runId is required', 'runId');
}
