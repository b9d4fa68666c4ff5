import fc from 'fast-check';
import { HeraldValidationError, isValidUserId } from '@herald/protocol';
import { DEFAULT_CHANNEL_PREFIX, encodeUserTag, storageLayout, validateChannelPrefix } from '../src/storage/index.js';
import { hostileIdempotencyKey, hostileText, hostileUserId } from '../../test/support/hostile-ids.js';

/** The hash tag Redis Cluster hashes for `key`: between the first `{` and the first `}` after it, if not empty. */
function hashTag(key: string): string | undefined {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open < 0) return undefined;
  const close = bytes.indexOf(0x7d, open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return bytes.subarray(open + 1, close).toString('utf8');
}

const text = hostileText({ maxLength: 8 });
const userId = hostileUserId({ maxLength: 8 });
const idempotencyKey = hostileIdempotencyKey({ maxLength: 8 });
const prefix = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,12}$/);

type Triple = { readonly prefix: string; readonly purpose: string; readonly user: string; readonly key: string };

function names(p: string, user: string, key: string): Array<[Triple, string]> {
  const layout = storageLayout(p);
  const triple = (purpose: string, k = '') => ({ prefix: p, purpose, user, key: k });
  return [
    [triple('events'), layout.userEvents(user)],
    [triple('history'), layout.userHistory(user)],
    [triple('seq'), layout.userSequence(user)],
    [triple('idem', key), layout.userIdempotency(user, key)],
    [{ prefix: p, purpose: 'retention', user: '', key: '' }, layout.retention],
    [{ prefix: p, purpose: 'receipts', user: '', key: 'p1' }, layout.receipts('p1')],
  ];
}

/**
 * Reads a name back into what it names. That such a reader exists, and gets every triple back,
 * is what makes the layout injective: two triples with one name would read back as one.
 */
function readName(name: string): Triple {
  const open = name.indexOf('{');
  if (open < 0) {
    const match = /^(.*):retention$/.exec(name);
    if (!match) throw new Error(`unreadable name ${JSON.stringify(name)}`);
    return { prefix: match[1] as string, purpose: 'retention', user: '', key: '' };
  }
  if (name[open - 1] !== ':') throw new Error(`no ':' before the tag in ${JSON.stringify(name)}`);
  const p = name.slice(0, open - 1);
  const close = name.indexOf('}', open);
  const tag = name.slice(open + 1, close);
  const tail = name.slice(close + 1);
  if (tag.startsWith('r:') && tail === ':receipts') return { prefix: p, purpose: 'receipts', user: '', key: tag.slice(2) };
  if (!tag.startsWith('u:')) throw new Error(`unknown tag in ${JSON.stringify(name)}`);
  const user = tag.slice(2).replace(/%([0-9A-F]{2})/g, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  if (tail.startsWith(':idem:')) return { prefix: p, purpose: 'idem', user, key: tail.slice(':idem:'.length) };
  const purpose = /^:(events|history|seq)$/.exec(tail)?.[1];
  if (!purpose) throw new Error(`unknown purpose in ${JSON.stringify(name)}`);
  return { prefix: p, purpose, user, key: '' };
}

// A small alphabet of the layout's own punctuation and words, so that ids that imitate each
// other's names come up often.
const tokens = fc.constantFrom('}', '{', ':', '%', '7D', '25', 'a', 'idem', 'history', 'seq', 'events', 'u', 'herald');
const lookalike = fc.array(tokens, { minLength: 1, maxLength: 7 }).map((parts) => parts.join(''));

describe('storage layout', () => {
  it('keeps ordinary ids readable', () => {
    const layout = storageLayout();
    expect(layout.userEvents('alice')).toBe('herald:{u:alice}:events');
    expect(layout.userHistory('alice')).toBe('herald:{u:alice}:history');
    expect(layout.userSequence('alice')).toBe('herald:{u:alice}:seq');
    expect(layout.userIdempotency('alice', 'req-7')).toBe('herald:{u:alice}:idem:req-7');
    expect(layout.receipts('p1')).toBe('herald:{r:p1}:receipts');
    expect(layout.retention).toBe('herald:retention');
    expect(storageLayout('staging').userEvents('bob')).toBe('staging:{u:bob}:events');
    expect(DEFAULT_CHANNEL_PREFIX).toBe('herald');
  });

  it('escapes exactly the characters that could end the hash tag or fake an escape', () => {
    expect(encodeUserTag('a}b{c%d:e*f')).toBe('a%7Db%7Bc%25d:e*f');
    expect(storageLayout().userHistory('a}:idem:k')).toBe('herald:{u:a%7D:idem:k}:history');
    expect(encodeUserTag('%7D')).not.toBe(encodeUserTag('}'));
  });

  it('keeps apart the ids that once shared keys', () => {
    const layout = storageLayout();
    expect(layout.userIdempotency('a}:idem:k', 'z')).not.toBe(layout.userIdempotency('a', 'k}:idem:z'));
    expect(layout.userHistory('a}:idem:k')).not.toBe(layout.userIdempotency('a', 'k}:history'));
    expect(layout.userSequence('a}:seq')).not.toBe(layout.userIdempotency('a', '}:seq'));
    expect(layout.userEvents('victim\ufffd')).toBe('herald:{u:victim\ufffd}:events');
    expect(() => layout.userEvents('victim\ud800')).toThrow(HeraldValidationError);
  });

  it('never gives two distinct (prefix, user, purpose, key) the same name, byte for byte', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.tuple(prefix, userId, idempotencyKey), fc.tuple(fc.constant('herald'), lookalike, lookalike)), {
          minLength: 2,
          maxLength: 30,
        }),
        (inputs) => {
        const seen = new Map<string, string>();
        for (const [p, user, key] of inputs) {
          for (const [triple, name] of names(p, user, key)) {
            const bytes = Buffer.from(name, 'utf8').toString('hex');
            const identity = JSON.stringify(triple);
            const previous = seen.get(bytes);
            if (previous !== undefined && previous !== identity) {
              throw new Error(`${identity} and ${previous} share the name ${JSON.stringify(name)}`);
            }
            seen.set(bytes, identity);
          }
        }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads every name back into the (prefix, user, purpose, key) it was made from', () => {
    const check = (p: string, user: string, key: string) => {
      for (const [triple, name] of names(p, user, key)) expect(readName(name)).toEqual(triple);
    };
    fc.assert(fc.property(fc.constantFrom('herald', 'a:b', 'herald:{u'.replace('{', '')), lookalike, lookalike, check), { numRuns: 3000 });
    fc.assert(fc.property(prefix, userId, idempotencyKey, check), { numRuns: 2000 });
  });

  it('reads the user back from their events channel, and from no other name', () => {
    const layout = storageLayout();
    expect(layout.userOfEvents('herald:{u:alice}:events')).toBe('alice');
    expect(layout.userOfEvents('herald:{u:a%7Db}:events')).toBe('a}b');
    expect(layout.userOfEvents('herald:{u:a%7db}:events')).toBeUndefined();
    expect(layout.userOfEvents('herald:{u:a}b}:events')).toBeUndefined();
    expect(layout.userOfEvents('herald:{u:}:events')).toBeUndefined();
    expect(layout.userOfEvents('herald:{u:alice}:history')).toBeUndefined();
    expect(layout.userOfEvents('staging:{u:alice}:events')).toBeUndefined();
    fc.assert(
      fc.property(prefix, fc.oneof(userId, lookalike), lookalike, (p, user, other) => {
        const named = storageLayout(p);
        if (isValidUserId(user)) expect(named.userOfEvents(named.userEvents(user))).toBe(user);
        for (const name of [other, `${p}:{u:${other}}:events`, ...names(p, isValidUserId(user) ? user : 'a', 'k').map(([, n]) => n)]) {
          const found = named.userOfEvents(name);
          if (found !== undefined) expect(named.userEvents(found)).toBe(name);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("puts every name of a user under that user's own hash tag, and no two users under one", () => {
    fc.assert(
      fc.property(prefix, userId, userId, idempotencyKey, (p, a, b, key) => {
        const layout = storageLayout(p);
        const tags = (user: string) =>
          new Set([layout.userEvents(user), layout.userHistory(user), layout.userSequence(user), layout.userIdempotency(user, key)].map(hashTag));
        expect([...tags(a)]).toEqual([`u:${encodeUserTag(a)}`]);
        if (a !== b) expect(hashTag(layout.userEvents(a))).not.toBe(hashTag(layout.userEvents(b)));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses ids that UTF-8 cannot keep apart (lone surrogates), control characters, and oversized ids', () => {
    const layout = storageLayout();
    fc.assert(
      fc.property(text, fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), text, (before, surrogate, after) => {
        // A lone surrogate stays lone unless its neighbour completes a pair.
        const value = `${before}\u0000${surrogate}\u0000${after}`.replace(/\u0000/g, 'x');
        expect(() => layout.userEvents(value)).toThrow(HeraldValidationError);
        expect(() => layout.userIdempotency('alice', value)).toThrow(HeraldValidationError);
      }),
    );
    for (const bad of ['', 'a\nb', 'x'.repeat(129), 'victim\ud800']) {
      expect(() => layout.userHistory(bad)).toThrow(HeraldValidationError);
    }
    expect(() => layout.receipts('bad id')).toThrow(/invalid publisher id/);
  });

  it.each(['', 'has space', 'has{brace', 'has}brace', 'x'.repeat(65)])('refuses the prefix %p', (bad) => {
    expect(() => validateChannelPrefix(bad)).toThrow(/channel prefix must be/);
    expect(() => storageLayout(bad)).toThrow(/channel prefix must be/);
  });
});
