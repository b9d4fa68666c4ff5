import {
  CloseCodes,
  isControlFrame,
  isEventId,
  parseServerFrame,
  shouldReconnect,
  type ErrorFrame,
  type EventEnvelope,
  type GapFrame,
  type ResumedFrame,
  type WelcomeFrame,
} from '@herald/protocol';
import { AuthFailures, DEFAULT_AUTH_RETRY_WINDOW_MS, DEFAULT_MAX_AUTH_FAILURES } from './auth-failures.js';
import { reconnectDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { EventQueue } from './event-queue.js';
import { EventSequence } from './event-sequence.js';
import { tokenSubject } from './token-subject.js';

/** The part of the WebSocket API the client uses: the browser's, or `ws` in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  /** Sends a text frame. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** The connection opened. */
  onopen: ((event: unknown) => void) | null;
  /** A frame arrived. */
  onmessage: ((event: { data: unknown }) => void) | null;
  /** The connection closed, with the peer's code and reason (1006 without a close frame). */
  onclose: ((event: { code: number; reason: string }) => void) | null;
  /** The connection failed; a close follows. */
  onerror: ((event: unknown) => void) | null;
}

/** The error listener of a socket the client has let go of. */
function ignoreError(): void {
  // nothing to do: the client no longer uses the socket
}

/** A WebSocket class: the browser's `WebSocket`, or the `ws` package's in Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The client's states, in the order the README lists them. */
export const CONNECTION_STATES = ['connecting', 'open', 'reconnecting', 'unauthorized', 'closed'] as const;

/**
 * Where the client is; every change is emitted as `state`:
 * - `connecting`: first, once, in a microtask after connect() returns: the first attempt is under way;
 * - `open`: a `herald.welcome` arrived: events flow;
 * - `reconnecting`: an attempt failed or the connection was lost: trying again, with backoff, until
 *   the next welcome;
 * - `unauthorized` (final): the gateway refused the token at the upgrade `maxAuthFailures` times in
 *   a row over at least `authRetryWindowMs`, or once with a static `token`; the `unauthorized`
 *   event carries the last close;
 * - `closed` (final): close() was called (before the first attempt: the only state emitted), or the
 *   gateway closed with a code that forbids reconnecting.
 */
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** Where and how the client connects. Give `token` or `getToken`. */
export interface ConnectOptions {
  /** The gateway's WebSocket URL (`wss://…/ws`), or a function choosing one per attempt. */
  readonly url: string | (() => string);
  /** A JWT; or give `getToken`, asked before every connection attempt (so expired tokens are renewed). */
  readonly token?: string;
  /** Returns a JWT; asked before every connection attempt, so tokens are renewed (recommended over `token`). */
  readonly getToken?: () => string | Promise<string>;
  /** Resume after this event id on the first connection (later ones resume after the last event seen). */
  readonly since?: string;
  /** Defaults to the global WebSocket (browsers, Node 22+); in Node 20 pass `WebSocket` from `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  readonly reconnect?: BackoffOptions;
  /** Send `herald.ping` this often and reconnect when nothing arrives for twice as long. 0: off. Default 20 000 ms. */
  readonly pingIntervalMs?: number;
  /**
   * Stop, in state `unauthorized`, after this many upgrades in a row (no welcome in between) that
   * refused the token (4001 `token_expired`, 4401 `unauthorized`, or a token a WebSocket cannot
   * carry), each followed by a new `getToken`, and only once they span `authRetryWindowMs`.
   * Default 3. Without `getToken` the first such refusal stops the client.
   */
  readonly maxAuthFailures?: number;
  /**
   * Keep trying refused tokens at least this long before stopping: refusals that clear up by
   * themselves (a clock a few seconds ahead, signing keys being rotated) last seconds. Default 60 000 ms.
   */
  readonly authRetryWindowMs?: number;
}

/** Why a socket closed. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** What the client emits, by event name (see HeraldClient.on). */
export interface ClientEvents extends Record<string, unknown> {
  /** An event, exactly once and in order. */
  event: EventEnvelope;
  /** Events after `since` may be missing (outside the gateway's history): reload your state. */
  gap: GapFrame;
  /** A resume finished. */
  resumed: ResumedFrame;
  welcome: WelcomeFrame;
  state: ConnectionState;
  /** A socket closed (the client may reconnect). */
  close: CloseInfo;
  /** The client stopped because the gateway kept refusing the token: the last such close. */
  unauthorized: CloseInfo;
  /** A `herald.error` from the gateway, or a problem getting a token. */
  error: ErrorFrame | Error;
}

/** Counters of the client's life so far. */
export interface ClientStats {
  readonly connections: number;
  /** Events dropped because they were not newer than the last one seen; a healthy gateway never causes any. */
  readonly duplicatesDropped: number;
  /**
   * Times an event did not follow the last one (events missing in between, no herald.gap): the
   * client dropped it and resumed from the last event it had. A healthy gateway never causes any.
   */
  readonly holesDetected: number;
}

/** A connection to Herald that stays up: what connect() returns. */
export interface HeraldClient {
  readonly state: ConnectionState;
  /** The newest event received (or the position of the first welcome); the next connection resumes after it. */
  readonly lastEventId: string | undefined;
  readonly stats: ClientStats;
  /** Listens to one of ClientEvents; returns a function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void;
  /** Every event from now on, as an async iterator (ends when the client closes). */
  events(): AsyncIterableIterator<EventEnvelope>;
  /** Closes for good: no more reconnects. Does nothing once the client stopped (`unauthorized`, `closed`). */
  close(): void;
}

const OPEN = 1;
/** What a WebSocket subprotocol may hold (RFC 6455: an HTTP token). */
const SUBPROTOCOL = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PING = JSON.stringify({ type: 'herald.ping' });

function messageText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return String(data);
}

function withSince(url: string, since: string | undefined): string {
  if (since === undefined) return url;
  const separator = url.includes('?') ? '&' : '?';
  return `${url}${separator}since=${encodeURIComponent(since)}`;
}

/**
 * Connects to Herald and stays connected: reconnects with exponential backoff and full jitter,
 * resumes after the last event it saw, renews the token through `getToken`, and surfaces
 * `herald.gap` when history could not cover an interruption.
 */
export function connect(options: ConnectOptions): HeraldClient {
  const available = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!available) throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. from the "ws" package)');
  const Socket: WebSocketConstructor = available;
  if (options.token === undefined && options.getToken === undefined) throw new Error('give token or getToken');
  if (options.since !== undefined && !isEventId(options.since)) {
    throw new Error(`since must be an event id like "1700000000000-0" (got ${JSON.stringify(options.since)})`);
  }
  const pingIntervalMs = options.pingIntervalMs ?? 20_000;
  const authFailures = new AuthFailures({
    limit: options.maxAuthFailures ?? DEFAULT_MAX_AUTH_FAILURES,
    windowMs: options.authRetryWindowMs ?? DEFAULT_AUTH_RETRY_WINDOW_MS,
    canRenew: options.getToken !== undefined,
  });

  const emitter = new Emitter<ClientEvents>();
  const queues = new Set<EventQueue<EventEnvelope>>();
  let state: ConnectionState = 'connecting';
  const sequence = new EventSequence(options.since);
  let welcomedSince: string | undefined;
  /** The user whose stream `sequence` follows (from the first welcome). */
  let streamUser: string | undefined;
  let socket: WebSocketLike | undefined;
  /** The socket that got a welcome: its token was accepted. */
  let welcomedSocket: WebSocketLike | undefined;
  let attempt = 0;
  /** close() was called, or the client stopped on its own: nothing more happens. */
  let closed = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let lastHeard = 0;
  let connections = 0;
  let duplicatesDropped = 0;
  let holesDetected = 0;

  const setState = (next: ConnectionState) => {
    if (state === next) return;
    state = next;
    emitter.emit('state', next);
  };

  const stop = (final: 'closed' | 'unauthorized') => {
    closed = true;
    clearTimeout(reconnectTimer);
    clearInterval(pingTimer);
    setState(final);
    for (const queue of queues) queue.end();
  };

  const scheduleReconnect = () => {
    if (closed) return;
    setState('reconnecting');
    reconnectTimer = setTimeout(() => void open(), reconnectDelay(attempt, options.reconnect));
    attempt += 1;
  };

  /** getToken now names another user: the position belongs to the old user's stream, and must not be sent with it. */
  const startAfresh = (user: string) => {
    const previous = sequence.position;
    streamUser = undefined;
    sequence.reset();
    emitter.emit('error', new Error(`the token now names another user (${user}); starting that user's stream afresh`));
    if (previous !== undefined) emitter.emit('gap', { type: 'herald.gap', since: previous, oldest: null });
  };

  const onEvent = (ws: WebSocketLike, event: EventEnvelope) => {
    switch (sequence.classify(event.id)) {
      case 'duplicate':
        duplicatesDropped += 1;
        return;
      case 'invalid':
        emitter.emit('error', new Error(`the gateway sent an event with an invalid id ${JSON.stringify(event.id)}`));
        return;
      case 'hole':
        holesDetected += 1;
        emitter.emit('error', new Error(`events are missing before ${event.id}; resuming after ${sequence.position}`));
        dropSocket(ws, { code: CloseCodes.RESYNC.code, reason: 'events missing; resuming' });
        return;
      case 'next':
        sequence.accept(event.id);
        emitter.emit('event', event);
        for (const queue of queues) queue.push(event);
    }
  };

  const onFrame = (ws: WebSocketLike, text: string) => {
    lastHeard = Date.now();
    let frame;
    try {
      frame = parseServerFrame(text);
    } catch (error) {
      emitter.emit('error', error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (!isControlFrame(frame)) {
      onEvent(ws, frame);
      return;
    }
    switch (frame.type) {
      case 'herald.welcome':
        if (streamUser !== undefined && frame.user_id !== streamUser) {
          // A token whose user could not be read named another user: our position belonged to the old one.
          startAfresh(frame.user_id);
          dropSocket(ws, { code: CloseCodes.RESYNC.code, reason: 'another user; starting afresh' });
          return;
        }
        streamUser = frame.user_id;
        welcomedSocket = ws;
        attempt = 0;
        authFailures.reset();
        welcomedSince = frame.since;
        // Not seen an event yet: resume from where this socket starts, so nothing is lost in between.
        if (!sequence.startAt(frame.since)) {
          emitter.emit('error', new Error(`herald.welcome carries no valid since (${JSON.stringify(frame.since)})`));
        }
        setState('open');
        emitter.emit('welcome', frame);
        return;
      case 'herald.gap':
        sequence.announceGap();
        emitter.emit('gap', frame);
        return;
      case 'herald.resumed':
        emitter.emit('resumed', frame);
        return;
      case 'herald.error':
        emitter.emit('error', frame);
        if (frame.code === 'invalid_since' && welcomedSince !== undefined) {
          // The gateway refused our position and carries on from where the socket started: what lies between is unknown.
          const refused = sequence.position ?? welcomedSince;
          sequence.moveTo(welcomedSince);
          sequence.announceGap();
          emitter.emit('gap', { type: 'herald.gap', since: refused, oldest: null });
        }
        return;
      case 'herald.pong':
        return;
    }
  };

  const abandon = (ws: WebSocketLike) => {
    ws.onopen = ws.onmessage = ws.onclose = null;
    // Closing a socket that is still connecting makes Node's `ws` emit an error: with no listener
    // left, that error would be thrown at the host process.
    ws.onerror = ignoreError;
    try {
      ws.close();
    } catch {
      // already closing
    }
  };

  /** Gives up on a socket the client no longer trusts, and reconnects (resuming). */
  const dropSocket = (ws: WebSocketLike, info: CloseInfo) => {
    if (ws !== socket) return;
    socket = undefined;
    abandon(ws);
    emitter.emit('close', info);
    scheduleReconnect();
  };

  const checkAlive = () => {
    const ws = socket;
    if (!ws || ws.readyState !== OPEN) return;
    if (Date.now() - lastHeard > 2 * pingIntervalMs) {
      // Nothing heard for two intervals: the connection is dead even if the socket does not know it.
      dropSocket(ws, { code: 1006, reason: 'no answer to ping' });
      return;
    }
    ws.send(PING);
  };

  async function open(): Promise<void> {
    if (closed) return;
    let token: string;
    try {
      token = options.getToken ? await options.getToken() : (options.token as string);
    } catch (error) {
      emitter.emit('error', error instanceof Error ? error : new Error(String(error)));
      scheduleReconnect();
      return;
    }
    if (closed) return;
    const subject = tokenSubject(token);
    if (streamUser !== undefined && subject !== undefined && subject !== streamUser) startAfresh(subject);
    const protocol = `bearer.${token}`;
    if (!SUBPROTOCOL.test(protocol)) {
      // Never sent: a WebSocket constructor would throw at a space or a non-ASCII character.
      emitter.emit('error', new Error('getToken returned a string that is not a token (it has characters a JWT never has)'));
      afterClose({ code: CloseCodes.UNAUTHORIZED.code, reason: 'malformed_token' }, false);
      return;
    }
    let ws: WebSocketLike;
    try {
      ws = new Socket(withSince(typeof options.url === 'function' ? options.url() : options.url, sequence.position), [protocol]);
    } catch (error) {
      emitter.emit('error', error instanceof Error ? error : new Error(String(error)));
      scheduleReconnect();
      return;
    }
    socket = ws;
    connections += 1;
    lastHeard = Date.now();
    ws.onmessage = (message) => {
      if (ws === socket) onFrame(ws, messageText(message.data));
    };
    ws.onerror = () => {
      // A close event follows.
    };
    ws.onclose = (event) => {
      if (ws !== socket) return;
      socket = undefined;
      const info = { code: event.code, reason: event.reason };
      emitter.emit('close', info);
      afterClose(info, welcomedSocket === ws);
    };
  }

  /** What follows a closed socket (or a token that could not be sent): a reconnect, or a final state. */
  function afterClose(info: CloseInfo, welcomed: boolean): void {
    if (!shouldReconnect(info.code)) return stop('closed');
    if (!welcomed && authFailures.giveUpAfter(info.code)) {
      stop('unauthorized');
      emitter.emit('unauthorized', info);
      return;
    }
    scheduleReconnect();
  }

  if (pingIntervalMs > 0) pingTimer = setInterval(checkAlive, pingIntervalMs);
  // A microtask: listeners added right after connect() returns hear `connecting`.
  queueMicrotask(() => {
    if (closed) return;
    emitter.emit('state', 'connecting');
    void open();
  });

  return {
    get state() {
      return state;
    },
    get lastEventId() {
      return sequence.position;
    },
    get stats() {
      return { connections, duplicatesDropped, holesDetected };
    },
    on: (event, listener) => emitter.on(event, listener),
    events() {
      const queue = new EventQueue<EventEnvelope>();
      if (closed) queue.end();
      else queues.add(queue);
      return queue;
    },
    close() {
      if (closed) return;
      const ws = socket;
      socket = undefined;
      if (ws) {
        abandon(ws);
        emitter.emit('close', { code: CloseCodes.NORMAL.code, reason: 'closed by the client' });
      }
      stop('closed');
    },
  };
}
