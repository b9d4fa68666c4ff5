import type { BroadcastResult } from '@herald/protocol';
import { TEST_PUBLISH_KEY } from './tokens.js';

export interface HttpAnswer<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** POST /v1/publish with a raw body (string or bytes) or a JSON value; `key: null` sends no Authorization. */
export async function postPublish<T = BroadcastResult>(
  httpUrl: string,
  body: unknown,
  key: string | null = TEST_PUBLISH_KEY,
): Promise<HttpAnswer<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  const response = await fetch(`${httpUrl}/v1/publish`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as T };
}
