import fc from 'fast-check';
import {
  DEFAULT_MAX_EVENT_BYTES,
  HeraldValidationError,
  encodeEventBody,
  eventIdOfPayload,
  eventTimestampOfPayload,
  joinEventPayload,
} from '../src/index.js';

const fields = { type: 'agent_started', ts: 1700000000123, user_id: 'alice', run_id: 'run-1', data: { step: 1 } };

describe('event envelope', () => {
  it('encodes exactly what JSON.stringify makes of the ordered event, for any field values', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.string({ unit: 'binary' }),
        fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
        fc.jsonValue(),
        (type, ts, userId, runId, data) => {
          const event = { type, ts, user_id: userId, ...(runId === undefined ? {} : { run_id: runId }), data };
          expect(encodeEventBody(event, 1 << 30)).toBe(JSON.stringify(event).slice(1));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it.each([
    ['a toJSON, which sees the key "data"', { toJSON: (key: string) => ({ key }) }],
    ['a toJSON that returns nothing', { toJSON: () => undefined }],
  ])('encodes data with %s as JSON.stringify of the event does', (_label, data) => {
    const event = { type: 'agent_started', ts: 1, user_id: 'alice', data };
    expect(encodeEventBody(event)).toBe(JSON.stringify(event).slice(1));
  });

  it('encodes the id first, then type, ts, user_id, run_id and data', () => {
    const payload = joinEventPayload('1700000000123-0', encodeEventBody(fields));
    expect(payload).toBe(
      '{"id":"1700000000123-0","type":"agent_started","ts":1700000000123,"user_id":"alice","run_id":"run-1","data":{"step":1}}',
    );
    expect(JSON.parse(payload)).toEqual({ id: '1700000000123-0', ...fields });
  });

  it('omits run_id when there is none and turns missing data into null', () => {
    const { run_id: _omitted, ...withoutRun } = fields;
    const payload = joinEventPayload('1-0', encodeEventBody({ ...withoutRun, data: undefined }));
    expect(JSON.parse(payload)).toEqual({ id: '1-0', type: 'agent_started', ts: 1700000000123, user_id: 'alice', data: null });
  });

  it('reads the publish timestamp from the payload bytes', () => {
    const payload = new TextEncoder().encode(joinEventPayload('42-7', encodeEventBody(fields)));
    expect(eventTimestampOfPayload(payload)).toBe(1700000000123);
    expect(eventTimestampOfPayload(new TextEncoder().encode('{"id":"1-1","type":"x"}'))).toBeUndefined();
  });

  it('reads the id back from the payload without parsing it', () => {
    expect(eventIdOfPayload(joinEventPayload('42-7', encodeEventBody(fields)))).toBe('42-7');
    expect(eventIdOfPayload('{"type":"x"}')).toBeUndefined();
  });

  it.each([
    ['a bigint', 10n],
    ['a symbol', Symbol('s')],
  ])('rejects %s as data', (_label, data) => {
    expect(() => encodeEventBody({ ...fields, data })).toThrow(expect.objectContaining({ code: 'invalid_data' }));
  });

  it('rejects circular data with a clear message', () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(() => encodeEventBody({ ...fields, data: circular })).toThrow(/data must be JSON-serialisable/);
  });

  it('enforces the size limit on the encoded event, id included', () => {
    const room = DEFAULT_MAX_EVENT_BYTES - encodeEventBody({ ...fields, data: '' }).length - 50;
    expect(() => encodeEventBody({ ...fields, data: 'x'.repeat(room) })).not.toThrow();
    expect(() => encodeEventBody({ ...fields, data: 'x'.repeat(DEFAULT_MAX_EVENT_BYTES) })).toThrow(
      expect.objectContaining({ code: 'payload_too_large' }),
    );
    expect(() => encodeEventBody({ ...fields, data: 'é'.repeat(600) }, 1024)).toThrow(HeraldValidationError);
  });
});
