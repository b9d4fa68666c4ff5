import { connect, type Socket } from 'node:net';
import type { TokenTransport } from './clients.js';

/** What became of an upgrade request sent byte for byte. */
export type RawUpgradeOutcome =
  /**
   * Upgraded, then closed by the server: `frames` counts the data frames that came before the
   * close frame; `connectionEnded` says whether the server also ended the TCP connection within
   * the wait (watched only with `untilConnectionEnds`).
   */
  | { readonly kind: 'closed'; readonly code: number; readonly reason: string; readonly frames: number; readonly connectionEnded: boolean }
  /** Upgraded, and no close frame came within the wait (or before the connection ended). */
  | { readonly kind: 'upgraded'; readonly frames: number }
  | { readonly kind: 'refused'; readonly status: number }
  /** The connection ended, or stayed silent for the whole wait, without an HTTP answer. */
  | { readonly kind: 'no_answer' };

export interface RawUpgradeOptions {
  /** How long to wait for the outcome. Default 2000 ms. */
  readonly waitMs?: number;
  /** After a close frame, also wait for the server to end the TCP connection (the client never answers the close). */
  readonly untilConnectionEnds?: boolean;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The bytes of a string as WTF-8: UTF-8, except that a lone surrogate keeps its own three bytes
 * (which no UTF-8 decoder accepts) instead of becoming U+FFFD, so hostile strings reach the
 * server as they are.
 */
export function wtf8(text: string): Buffer {
  if (!LONE_SURROGATE.test(text)) return Buffer.from(text, 'utf8');
  const bytes = Buffer.alloc(text.length * 3);
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    let unit = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      unit = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
      i += 1;
    }
    if (unit < 0x80) bytes[size++] = unit;
    else if (unit < 0x800) {
      bytes[size++] = 0xc0 | (unit >> 6);
      bytes[size++] = 0x80 | (unit & 0x3f);
    } else if (unit < 0x10000) {
      bytes[size++] = 0xe0 | (unit >> 12);
      bytes[size++] = 0x80 | ((unit >> 6) & 0x3f);
      bytes[size++] = 0x80 | (unit & 0x3f);
    } else {
      bytes[size++] = 0xf0 | (unit >> 18);
      bytes[size++] = 0x80 | ((unit >> 12) & 0x3f);
      bytes[size++] = 0x80 | ((unit >> 6) & 0x3f);
      bytes[size++] = 0x80 | (unit & 0x3f);
    }
  }
  return bytes.subarray(0, size);
}

/** Bytes left as they are in a query string; every other byte is percent-encoded. */
const UNRESERVED = new Set(Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~'));
const PERCENT_ENCODED = Array.from({ length: 256 }, (_, byte) =>
  UNRESERVED.has(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
);

function percentEncode(bytes: Buffer): string {
  const parts: string[] = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = PERCENT_ENCODED[bytes[i] as number] as string;
  return parts.join('');
}

/** An upgrade request for /ws carrying `token` (undefined: none) as `via` says, byte for byte. */
export function upgradeRequest(token: string | undefined, via: TokenTransport): Buffer {
  const bytes = token === undefined ? undefined : wtf8(token);
  const path = bytes !== undefined && via === 'query' ? `/ws?token=${percentEncode(bytes)}` : '/ws';
  const head = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
  );
  const parts: Buffer[] = [head];
  if (bytes !== undefined && via === 'header') parts.push(Buffer.from('Authorization: Bearer '), bytes, Buffer.from('\r\n'));
  if (bytes !== undefined && via === 'protocol') parts.push(Buffer.from('Sec-WebSocket-Protocol: bearer.'), bytes, Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

const CLOSE_OPCODE = 0x8;

interface Frame {
  readonly opcode: number;
  readonly payload: Buffer;
  readonly size: number;
}

/** The first server frame in `data` (servers never mask), or undefined if it is not complete yet. */
function readFrame(data: Buffer): Frame | undefined {
  if (data.length < 2) return undefined;
  const opcode = (data[0] as number) & 0x0f;
  let length = (data[1] as number) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    length = Number(data.readBigUInt64BE(2));
    offset = 10;
  }
  if (data.length < offset + length) return undefined;
  return { opcode, payload: data.subarray(offset, offset + length), size: offset + length };
}

/**
 * Sends an upgrade request as raw bytes (so that no client library cleans up a hostile token)
 * and reports what the server made of it. The client never sends a frame, nor answers a close.
 */
export function rawUpgrade(port: number, request: Buffer, options: RawUpgradeOptions = {}): Promise<RawUpgradeOutcome> {
  const waitMs = options.waitMs ?? 2000;
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let upgraded = false;
    let frames = 0;
    let closeFrame: { code: number; reason: string; frames: number } | undefined;
    let settled = false;
    const finish = (outcome: RawUpgradeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const ended = (connectionEnded: boolean) => {
      if (closeFrame) finish({ kind: 'closed', ...closeFrame, connectionEnded });
      else finish(upgraded ? { kind: 'upgraded', frames } : { kind: 'no_answer' });
    };
    const timer = setTimeout(() => ended(false), waitMs);
    const readFrames = () => {
      for (let frame = readFrame(received); frame && !closeFrame; frame = readFrame(received)) {
        received = received.subarray(frame.size);
        if (frame.opcode !== CLOSE_OPCODE) {
          frames += 1;
          continue;
        }
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
        closeFrame = { code, reason: frame.payload.subarray(2).toString('utf8'), frames };
        if (!options.untilConnectionEnds) ended(false);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (status !== 101) {
          finish({ kind: 'refused', status });
          return;
        }
        upgraded = true;
        received = received.subarray(end + 4);
      }
      readFrames();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => ended(true));
    socket.write(request);
  });
}
