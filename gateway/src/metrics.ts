import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  AUTH_FAILURE_REASONS,
  BROKER_MESSAGE_KINDS,
  COUNTED_CLOSE_CODES,
  OTHER_CLOSE,
  DROP_REASONS,
  HISTORY_PATHS,
  PUBLISH_STATUSES,
  RESUME_OUTCOMES,
  UPGRADE_REFUSAL_REASONS,
} from './metric-labels.js';

/** Delivery latency buckets, 0.1 ms to 5 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A counter with one label; `labels` takes only values of V, so a closed list of values types its call sites. */
export interface LabelledCounter<V extends string> {
  labels(value: V): Counter.Internal;
}

/** Values the metrics read when scraped, rather than tracking every change. */
export interface MetricSources {
  connections(): number;
  subscribedUsers(): number;
  brokerConnected(): boolean;
  recovering(): boolean;
}

/**
 * The gateway's metrics. Labels are bounded (close codes, reasons, statuses): never a user id.
 * Each node has its own registry, labelled with its node id.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private bufferedHighWater = 0;
  private sources: MetricSources | undefined;

  readonly connectionsOpened = this.counter('herald_connections_opened_total', 'WebSocket connections opened.');
  // Any code: clients choose theirs too.
  readonly connectionsClosed = this.counterBy('herald_connections_closed_total', 'WebSocket connections closed, by close code.', 'code', [...COUNTED_CLOSE_CODES.map(String), OTHER_CLOSE]);
  readonly authFailures = this.counterBy('herald_auth_failures_total', 'WebSocket upgrades whose token was refused, by reason (closed with 4401 or 4001 right after the upgrade; key_unavailable: answered 503).', 'reason', AUTH_FAILURE_REASONS);
  readonly upgradesRefused = this.counterBy('herald_upgrades_refused_total', 'WebSocket upgrades refused by the node rather than for their token, by reason.', 'reason', UPGRADE_REFUSAL_REASONS);
  readonly brokerMessages = this.counterBy('herald_broker_messages_total', 'Messages received from the broker, by kind.', 'kind', BROKER_MESSAGE_KINDS);
  readonly eventsDelivered = this.counter('herald_events_delivered_total', 'Event sends to sockets that were accepted.');
  readonly eventsDropped = this.counterBy('herald_events_dropped_total', 'Event sends to sockets that did not happen, by reason (the socket then resumes or is told).', 'reason', DROP_REASONS);
  readonly deliveryLatency = new Histogram({
    name: 'herald_delivery_latency_seconds',
    help: "Time from an event's publish timestamp to its send to the sockets on this node.",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly resumes = this.counterBy('herald_resumes_total', 'Resume requests, by outcome.', 'outcome', RESUME_OUTCOMES);
  readonly gapsSignalled = this.counterBy('herald_gaps_signalled_total', 'herald.gap frames sent, by path (resume, recovery, hole, opening, resubscribed).', 'path', HISTORY_PATHS);
  readonly backfilledEvents = this.counterBy('herald_backfilled_events_total', 'Events sent from history rather than live, by path (resume, recovery, hole, opening, resubscribed).', 'path', HISTORY_PATHS);
  readonly sequenceHoles = this.counter('herald_sequence_holes_total', 'Live events whose number did not follow the one before: the user was caught up from history first.');
  readonly brokerReconnects = this.counter('herald_broker_reconnects_total', 'Times the broker subscriber connection was lost and restored.');
  // Any status: the routes answer with a number.
  readonly publishRequests = this.counterBy('herald_publish_requests_total', 'POST /v1/publish requests, by HTTP status.', 'status', PUBLISH_STATUSES.map(String));

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  /**
   * A counter whose series for `values` exist at 0 from the start: a series that appears only
   * with its first increment is missing from dashboards until then, and rate() never sees that
   * first increment.
   */
  private counterBy<V extends string>(name: string, help: string, label: string, values: readonly V[]): LabelledCounter<V> {
    const counter = new Counter({ name, help, labelNames: [label], registers: [this.registry] });
    for (const value of values) counter.inc({ [label]: value }, 0);
    return counter;
  }

  constructor(nodeId: string, maxConnections: number) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
    const sources = () => this.sources;
    const metrics = this;
    new Gauge({
      name: 'herald_connections',
      help: 'Open WebSocket connections.',
      registers: [this.registry],
      collect() {
        this.set(sources()?.connections() ?? 0);
      },
    });
    new Gauge({
      name: 'herald_connections_limit',
      help: 'MAX_CONNECTIONS of this node.',
      registers: [this.registry],
    }).set(maxConnections);
    new Gauge({
      name: 'herald_subscribed_users',
      help: 'Users this node is subscribed to.',
      registers: [this.registry],
      collect() {
        this.set(sources()?.subscribedUsers() ?? 0);
      },
    });
    new Gauge({
      name: 'herald_broker_connected',
      help: '1 when the broker connection works, else 0.',
      registers: [this.registry],
      collect() {
        this.set(sources()?.brokerConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'herald_recovering',
      help: '1 while the node catches up after a broker outage.',
      registers: [this.registry],
      collect() {
        this.set(sources()?.recovering() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'herald_socket_buffered_bytes_high_water',
      help: 'Largest send buffer any socket reached since the previous scrape.',
      registers: [this.registry],
      collect() {
        this.set(metrics.bufferedHighWater);
        metrics.bufferedHighWater = 0;
      },
    });
  }

  /** Connects the scrape-time values; call once the gateway's parts exist. */
  observe(sources: MetricSources): void {
    this.sources = sources;
  }

  /** Records a socket's send buffer size when it is building up. */
  noteBuffered(bytes: number): void {
    if (bytes > this.bufferedHighWater) this.bufferedHighWater = bytes;
  }
}
