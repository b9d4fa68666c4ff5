import { GOLDEN_PATH_EVENT_TYPES, isGoldenPathEventType, validateEventType } from '../src/index.js';

describe('event types', () => {
  it('lists the golden path in run order', () => {
    expect(GOLDEN_PATH_EVENT_TYPES).toEqual([
      'agent_started',
      'agent_thinking',
      'tool_executing',
      'tool_completed',
      'agent_completed',
    ]);
    expect(isGoldenPathEventType('tool_completed')).toBe(true);
    expect(isGoldenPathEventType('custom')).toBe(false);
  });

  it.each(['agent_started', 'billing.updated', 'doc:saved', 'step-2', 'a'])('accepts %p', (type) => {
    expect(validateEventType(type)).toBe(type);
  });

  it.each([
    ['reserved control prefix', 'herald.welcome', /reserved for control frames/],
    ['uppercase', 'Agent_started', /lowercase/],
    ['leading digit', '1agent', /starting with a letter/],
    ['empty', '', /1-64 characters/],
    ['too long', 'a'.repeat(65), /1-64 characters/],
    ['spaces', 'agent started', /lowercase/],
  ])('rejects a type with %s', (_label, type, message) => {
    expect(() => validateEventType(type)).toThrow(message);
  });

  it('rejects non-strings with invalid_type', () => {
    expect(() => validateEventType(7)).toThrow(expect.objectContaining({ code: 'invalid_type', field: 'type' }));
  });
});
