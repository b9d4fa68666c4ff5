/**
 * Splits a stream of RESP2 or RESP3 server bytes into whole top-level values, so a proxy can drop one
 * pub/sub message without corrupting the connection. Bulk strings are read by their length:
 * payloads may hold any bytes, including CRLF.
 */
export class RespFrames {
  private pending: Buffer = Buffer.alloc(0);

  /** Appends `chunk` and returns the complete values it finishes, each as its raw bytes. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const values: Buffer[] = [];
    let start = 0;
    for (;;) {
      const end = valueEnd(this.pending, start);
      if (end < 0) break;
      values.push(this.pending.subarray(start, end));
      start = end;
    }
    this.pending = this.pending.subarray(start);
    return values;
  }
}

/** A pub/sub `message` (`>3` or `*3` `message <channel> <payload>`): its channel and payload, or undefined. */
export function pubsubMessage(value: Buffer): { readonly channel: string; readonly payload: Buffer } | undefined {
  if (!/^[>*]3\r\n\$7\r\nmessage\r\n/.test(value.subarray(0, 17).toString('latin1'))) return undefined;
  const channel = bulkAt(value, 17);
  if (!channel) return undefined;
  const payload = bulkAt(value, channel.end);
  return payload ? { channel: channel.bytes.toString('utf8'), payload: payload.bytes } : undefined;
}

function lineEnd(buffer: Buffer, from: number): number {
  const at = buffer.indexOf('\r\n', from, 'latin1');
  return at < 0 ? -1 : at;
}

function bulkAt(buffer: Buffer, at: number): { readonly bytes: Buffer; readonly end: number } | undefined {
  if (buffer[at] !== 0x24) return undefined; // '$'
  const headerEnd = lineEnd(buffer, at);
  if (headerEnd < 0) return undefined;
  const length = Number(buffer.toString('latin1', at + 1, headerEnd));
  const start = headerEnd + 2;
  return { bytes: buffer.subarray(start, start + length), end: start + length + 2 };
}

/** Where the RESP value starting at `at` ends, or -1 if the buffer does not hold all of it yet. */
function valueEnd(buffer: Buffer, at: number): number {
  if (at >= buffer.length) return -1;
  const headerEnd = lineEnd(buffer, at);
  if (headerEnd < 0) return -1;
  const type = String.fromCharCode(buffer[at] ?? 0);
  const count = Number(buffer.toString('latin1', at + 1, headerEnd));
  const afterHeader = headerEnd + 2;
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case '#':
    case ',':
    case '(':
      return afterHeader;
    case '$':
    case '!':
    case '=': {
      if (count < 0) return afterHeader;
      const end = afterHeader + count + 2;
      return end <= buffer.length ? end : -1;
    }
    case '*':
    case '>':
    case '~':
    case '%':
    case '|': {
      const elements = type === '%' || type === '|' ? 2 * count : count;
      let end = afterHeader;
      for (let i = 0; i < elements; i++) {
        end = valueEnd(buffer, end);
        if (end < 0) return -1;
      }
      // An attribute annotates the value that follows it: both go together.
      return type === '|' ? valueEnd(buffer, end) : end;
    }
    default:
      throw new Error(`not RESP: type byte ${JSON.stringify(type)} at ${at}`);
  }
}
