export { HeraldValidationError, type ValidationCode } from '@herald/protocol';

export type PublishErrorCode = 'redis_error' | 'closed';

/** The event could not be published (nothing was delivered). Safe to retry. */
export class HeraldPublishError extends Error {
  override readonly name = 'HeraldPublishError';
  readonly code: PublishErrorCode;

  constructor(code: PublishErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
