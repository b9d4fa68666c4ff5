import { encodeReceipt, isReceiptRequest, parseReceipt, parseReceiptRequest, receiptRequestPayload } from '../src/storage/index.js';

describe('receipts', () => {
  it('parses receipt requests and tells them from events', () => {
    const payload = receiptRequestPayload('herald:{r:p1}:receipts', 'Ab_1', '5-0');
    expect(payload).toBe('{"receipt":"herald:{r:p1}:receipts","ref":"Ab_1","id":"5-0"}');
    expect(parseReceiptRequest(payload)).toEqual({ receipt: 'herald:{r:p1}:receipts', ref: 'Ab_1', id: '5-0' });
    expect(parseReceiptRequest('{"receipt":"herald:{r:p1}:receipts","id":"5-0"}')).toBeUndefined();
    expect(isReceiptRequest('{"id":"5-0","type":"x"}')).toBe(false);
    expect(parseReceiptRequest('{"receipt":5}')).toBeUndefined();
    expect(parseReceiptRequest('{"receipt":"x"')).toBeUndefined();
  });

  it('round-trips receipts and refuses malformed ones', () => {
    const receipt = { ref: 'Ab_1', id: '5-0', node: 'n1', attempted: 3, successful: 2 };
    expect(parseReceipt(encodeReceipt(receipt))).toEqual(receipt);
    expect(parseReceipt('{"ref":"r","id":"5-0","node":"n1","attempted":1.5,"successful":1}')).toBeUndefined();
    expect(parseReceipt('{"id":"5-0","node":"n1","attempted":1,"successful":1}')).toBeUndefined();
    expect(parseReceipt('nope')).toBeUndefined();
  });
});
