import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { HeraldValidationError, parsePublishRequest } from '@herald/protocol';
import { HeraldPublishError, HeraldPublishOutcomeUnknownError } from '@herald/publisher-sdk';
import { BrokerUnavailableError, type Broker, type BrokerHealth } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import {
  errorBody,
  guardResponse,
  readBody,
  respondLater,
  writeJson,
  type JsonResponse,
  type RespondOptions,
  type ResponseGuard,
} from './http.js';

/** What the health probes report. */
export interface ProbeSources {
  readonly nodeId: string;
  readonly broker: Broker;
  /** False from the moment the node starts draining. */
  readonly accepting: () => boolean;
  /** False while the node catches up after a broker outage. */
  readonly caughtUp: () => boolean;
}

export interface HttpRouteDependencies extends ProbeSources {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Undefined: the publish API is off. */
  readonly publishKey: string | undefined;
  readonly maxPublishBytes: number;
  /** Serve /healthz and /readyz here too (they always are on the admin port). */
  readonly probes: boolean;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compares in constant time (hashing first hides the key's length too). */
function bearerMatches(authorization: string, key: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(key));
}

function publishFailure(error: unknown, logger: Logger, broker: Broker): JsonResponse {
  if (error instanceof HeraldValidationError) {
    return { status: 400, body: errorBody(error.code, error.message, error.field) };
  }
  if (error instanceof HeraldPublishOutcomeUnknownError) {
    // Expected while Redis is in trouble, once per request: the reason, without a stack trace.
    logger.warn({ reason: error.message }, 'publish outcome unknown');
    return {
      status: 503,
      body: {
        error: {
          code: 'outcome_unknown',
          message:
            'Redis may have published the event but did not answer; retry with this idempotency_key ' +
            `before ${error.retryBefore.toISOString()} to have it delivered exactly once`,
          idempotency_key: error.idempotencyKey,
          retry_before: error.retryBefore.toISOString(),
        },
      },
      headers: { 'retry-after': '1' },
    };
  }
  if (error instanceof HeraldPublishError || error instanceof BrokerUnavailableError) {
    logger.warn({ reason: error.message }, 'publish failed');
    const health = broker.health();
    const why = health.connected ? '' : `: ${health.summary}`;
    return {
      status: 503,
      body: errorBody('broker_unavailable', `the event was not published${why}; nothing was sent; retry`),
      headers: { 'retry-after': '1' },
    };
  }
  logger.error({ err: error }, 'publish failed unexpectedly');
  return { status: 500, body: errorBody('internal_error', 'the event could not be published') };
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text, refusing bytes that are not UTF-8 (they would silently become U+FFFD). */
function decodeBody(body: Buffer): string {
  try {
    return STRICT_UTF8.decode(body);
  } catch {
    throw new HeraldValidationError('invalid_utf8', 'body is not valid UTF-8');
  }
}

/**
 * Resolves after uWS has parsed everything it has read from the connection so far. uWS closes a
 * connection on which a request arrives while another awaits its answer (it supports only
 * synchronous pipelining); a request parsed in the same read as this one shows as an abort by
 * now, before anything was committed.
 */
function afterCurrentRead(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function tooLarge(limit: number): JsonResponse {
  return {
    status: 400,
    body: errorBody('payload_too_large', `request body is larger than the limit of ${limit} bytes`),
    close: true,
  };
}

/** Why /readyz answers 503, in one sentence. */
function notReadyMessage(accepting: boolean, health: BrokerHealth, caughtUp: boolean): string {
  if (!accepting) return 'this node is draining';
  if (!health.connected) return `${health.summary}; this node is not ready`;
  return caughtUp ? 'this node is not ready' : 'this node is catching its users up after a broker outage';
}

/** `GET /healthz` (the process runs) and `GET /readyz` (it should get traffic). */
export function registerProbes(app: TemplatedApp, sources: ProbeSources): void {
  app.get('/healthz', (res) => {
    writeJson(res, { status: 200, body: { status: 'ok', node: sources.nodeId } });
  });

  app.get('/readyz', (res) => {
    const health = sources.broker.health();
    const accepting = sources.accepting();
    const caughtUp = sources.caughtUp();
    const ready = accepting && health.connected && caughtUp;
    writeJson(res, {
      status: ready ? 200 : 503,
      body: {
        status: ready ? 'ready' : 'not_ready',
        ...(ready ? {} : { message: notReadyMessage(accepting, health, caughtUp) }),
        node: sources.nodeId,
        accepting,
        recovering: !caughtUp,
        broker: health,
      },
    });
  });
}

export function registerHttpRoutes(app: TemplatedApp, deps: HttpRouteDependencies): void {
  const { broker, logger, publishKey, maxPublishBytes, metrics } = deps;
  if (deps.probes) registerProbes(app, deps);

  const answer = (res: HttpResponse, response: JsonResponse) => {
    metrics.publishRequests.labels(String(response.status)).inc();
    writeJson(res, response);
  };
  const answerLater = (res: HttpResponse, guard: ResponseGuard, response: JsonResponse, options?: RespondOptions) => {
    metrics.publishRequests.labels(String(response.status)).inc();
    respondLater(res, guard, response, options);
  };

  app.post('/v1/publish', (res: HttpResponse, req: HttpRequest) => {
    const authorization = req.getHeader('authorization');
    const contentLength = req.getHeader('content-length');
    if (publishKey === undefined) {
      answer(res, {
        status: 404,
        body: errorBody('publish_api_disabled', 'the publish API is off on this node: set HERALD_PUBLISH_KEY'),
        close: true,
      });
      return;
    }
    if (!bearerMatches(authorization, publishKey)) {
      answer(res, {
        status: 401,
        body: errorBody('unauthorized', 'send the publish key as "Authorization: Bearer <HERALD_PUBLISH_KEY>"'),
        headers: { 'www-authenticate': 'Bearer' },
        close: true,
      });
      return;
    }
    if (contentLength !== '' && Number(contentLength) > maxPublishBytes) {
      answer(res, tooLarge(maxPublishBytes));
      return;
    }
    const guard = guardResponse(res);
    void (async () => {
      // Nothing more is read from the connection until this request is answered, so a pipelined
      // request can no longer arrive while the publish is in flight (see afterCurrentRead).
      const body = await readBody(res, maxPublishBytes, { pauseWhenComplete: true });
      await afterCurrentRead();
      if (guard.aborted) return;
      if (!body.ok) {
        answerLater(res, guard, tooLarge(maxPublishBytes));
        return;
      }
      let response: JsonResponse;
      try {
        const request = parsePublishRequest(decodeBody(body.body));
        response = { status: 200, body: await broker.publish(request) };
      } catch (error) {
        response = publishFailure(error, logger, broker);
      }
      answerLater(res, guard, response, { resume: true });
    })();
  });

  app.any('/*', (res, req) => {
    const url = req.getUrl();
    const response: JsonResponse =
      url === '/ws'
        ? { status: 426, body: errorBody('upgrade_required', 'GET /ws with a WebSocket upgrade'), headers: { upgrade: 'websocket' } }
        : { status: 404, body: errorBody('not_found', `no route for ${req.getMethod().toUpperCase()} ${url}`) };
    writeJson(res, response);
  });
}
