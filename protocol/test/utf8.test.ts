import fc from 'fast-check';
import { countUtf8Bytes, utf8ByteLength } from '../src/utf8.js';

// Any UTF-16 code units, lone surrogates included.
const codeUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) });
const encoder = new TextEncoder();

describe('utf8ByteLength', () => {
  it('counts what UTF-8 encoding produces, in Node and in browsers alike, for any string', () => {
    fc.assert(
      fc.property(fc.oneof(codeUnits, fc.string({ unit: 'binary' })), (text) => {
        const encoded = encoder.encode(text).length;
        expect(utf8ByteLength(text)).toBe(encoded);
        expect(countUtf8Bytes(text)).toBe(encoded);
      }),
      { numRuns: 2000 },
    );
  });
});
