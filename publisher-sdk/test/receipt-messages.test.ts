import { encodeReceipt, isReceiptRequest, parseReceipt, parseReceiptRequest, receiptRequestPayload } from '../src/storage/index.js';

describe('receipts', () => {
  it('parses receipt requests and tells them from events', () => {
    expect(parseReceiptRequest('{"receipt":"herald:{r:p1}:receipts","id":"5-0"}')).toEqual({
      receipt: 'herald:{r:p1}:receipts',
      id: '5-0',
    });
    expect(isReceiptRequest('{"id":"5-0","type":"x"}')).toBe(false);
    expect(parseReceiptRequest('{"receipt":5}')).toBeUndefined();
    expect(parseReceiptRequest('{"receipt":"x"')).toBeUndefined();
  });

  it('round-trips receipts and refuses malformed ones', () => {
    const receipt = { id: '5-0', node: 'n1', attempted: 3, successful: 2 };
    expect(parseReceipt(encodeReceipt(receipt))).toEqual(receipt);
    expect(parseReceipt('{"id":"5-0","node":"n1","attempted":1.5,"successful":1}')).toBeUndefined();
    expect(parseReceipt('nope')).toBeUndefined();
  });
});
