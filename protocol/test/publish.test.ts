import { HeraldValidationError, parsePublishRequest, validatePublishRequest } from '../src/index.js';
import { thrownBy } from '../../test/support/errors.js';

function rejection(run: () => unknown): HeraldValidationError {
  return thrownBy(HeraldValidationError, run);
}

describe('publish requests', () => {
  it('accepts the four known fields and defaults data to null', () => {
    expect(parsePublishRequest('{"user_id":"u1","type":"agent_started","run_id":"r1","data":{"a":[1]}}')).toEqual({
      user_id: 'u1',
      type: 'agent_started',
      run_id: 'r1',
      data: { a: [1] },
    });
    expect(validatePublishRequest({ user_id: 'u1', type: 'agent_thinking' })).toEqual({
      user_id: 'u1',
      type: 'agent_thinking',
      data: null,
    });
  });

  it.each([
    ['bad JSON', '{"user_id":', 'invalid_json', undefined],
    ['an array', '[]', 'invalid_body', undefined],
    ['a string', '"hello"', 'invalid_body', undefined],
    ['an unknown field', '{"user_id":"u","type":"t","extra":1}', 'unknown_field', 'extra'],
    ['no user_id', '{"type":"agent_started"}', 'missing_field', 'user_id'],
    ['no type', '{"user_id":"u"}', 'missing_field', 'type'],
    ['a numeric user_id', '{"user_id":5,"type":"agent_started"}', 'invalid_user_id', 'user_id'],
    ['a bad type', '{"user_id":"u","type":"Not A Type"}', 'invalid_type', 'type'],
    ['a control type', '{"user_id":"u","type":"herald.ping"}', 'invalid_type', 'type'],
    ['an empty run_id', '{"user_id":"u","type":"agent_started","run_id":""}', 'invalid_run_id', 'run_id'],
    ['a numeric idempotency_key', '{"user_id":"u","type":"t","idempotency_key":7}', 'invalid_idempotency_key', 'idempotency_key'],
    ['a string confirm', '{"user_id":"u","type":"t","confirm":"yes"}', 'invalid_option', 'confirm'],
    ['a zero confirm_timeout_ms', '{"user_id":"u","type":"t","confirm_timeout_ms":0}', 'invalid_option', 'confirm_timeout_ms'],
    ['a huge confirm_timeout_ms', '{"user_id":"u","type":"t","confirm_timeout_ms":60000}', 'invalid_option', 'confirm_timeout_ms'],
  ])('rejects %s with %s', (_label, body, code, field) => {
    const error = rejection(() => parsePublishRequest(body));
    expect(error.code).toBe(code);
    expect(error.field).toBe(field);
    expect(error.message.length).toBeGreaterThan(10);
  });

  it('accepts an idempotency key and delivery confirmation', () => {
    expect(
      validatePublishRequest({ user_id: 'u', type: 't', idempotency_key: 'k-1', confirm: true, confirm_timeout_ms: 500 }),
    ).toEqual({ user_id: 'u', type: 't', data: null, idempotency_key: 'k-1', confirm: true, confirm_timeout_ms: 500 });
  });

  it('names the allowed fields when one is unknown', () => {
    expect(() => validatePublishRequest({ user_id: 'u', type: 't', userId: 'x' })).toThrow(
      'unknown field "userId" (allowed: user_id, type, data, run_id, idempotency_key, confirm, confirm_timeout_ms)',
    );
  });
});
