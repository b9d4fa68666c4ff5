import type { HttpResponse } from 'uWebSockets.js';

const STATUS_LINES: Readonly<Record<number, string>> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  426: '426 Upgrade Required',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Close the connection after responding (used when a request body is left unread). */
  readonly close?: boolean;
}

/** Tracks whether the client went away; uWS requires an abort handler on every async response. */
export interface ResponseGuard {
  readonly aborted: boolean;
}

export function guardResponse(res: HttpResponse): ResponseGuard {
  const guard = { aborted: false };
  res.onAborted(() => {
    guard.aborted = true;
  });
  return guard;
}

/** Writes a JSON response; call inside the handler's synchronous part or within res.cork(). */
export function writeJson(res: HttpResponse, response: JsonResponse): void {
  const headers = { 'cache-control': 'no-store', ...response.headers };
  writeContent(res, response.status, 'application/json', JSON.stringify(response.body), headers, response.close ?? false);
}

export interface RespondOptions {
  /** The connection was paused while the request was handled: read from it again. */
  readonly resume?: boolean;
}

/** Writes a JSON response from an asynchronous continuation, unless the client has gone. */
export function respondLater(res: HttpResponse, guard: ResponseGuard, response: JsonResponse, options: RespondOptions = {}): void {
  if (guard.aborted) return;
  res.cork(() => {
    // Inside the cork: the next request is read only after this response is written.
    if (options.resume) res.resume();
    writeJson(res, response);
  });
}

export function errorBody(code: string, message: string, field?: string): unknown {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export type BodyOutcome = { readonly ok: true; readonly body: Buffer } | { readonly ok: false };

export interface ReadBodyOptions {
  /** Stop reading from the connection once the body is complete (resume when answering). */
  readonly pauseWhenComplete?: boolean;
}

/**
 * Collects a request body of at most `limit` bytes. Resolves `{ ok: false }` as soon as the body
 * exceeds the limit (the rest is not buffered). Must be called in the handler's synchronous part.
 */
export function readBody(res: HttpResponse, limit: number, options: ReadBodyOptions = {}): Promise<BodyOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        if (options.pauseWhenComplete) res.pause();
        resolve({ ok: false });
        return;
      }
      // The chunk's memory is reused by uWS after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        done = true;
        if (options.pauseWhenComplete) res.pause();
        resolve({ ok: true, body: Buffer.concat(chunks, size) });
      }
    });
  });
}

/**
 * Writes a response of any type (writeJson's, a page, a script); call inside the handler's
 * synchronous part or within res.cork(). `close`: close the connection after responding.
 */
export function writeContent(
  res: HttpResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = {},
  close = false,
): void {
  res.writeStatus(STATUS_LINES[status] ?? `${status} Error`);
  res.writeHeader('content-type', contentType);
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  res.end(body, close);
}
