/** Machine-readable reasons an input was rejected. Stable: clients and backends may switch on them. */
export type ValidationCode =
  | 'invalid_json'
  | 'invalid_utf8'
  | 'invalid_body'
  | 'unknown_field'
  | 'missing_field'
  | 'invalid_user_id'
  | 'invalid_run_id'
  | 'invalid_idempotency_key'
  | 'invalid_type'
  | 'invalid_data'
  | 'payload_too_large'
  | 'invalid_option';

/** Thrown for input that Herald refuses before anything is sent. */
export class HeraldValidationError extends Error {
  override readonly name = 'HeraldValidationError';
  readonly code: ValidationCode;
  /** The offending field, when the problem is with one field. */
  readonly field: string | undefined;

  constructor(code: ValidationCode, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}
