import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Delivery latency buckets, 0.1 ms to 5 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type DropReason = 'backpressure' | 'closed' | 'too_large';
export type GapPath = 'resume' | 'recovery';

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

  readonly connectionsOpened = new Counter({
    name: 'herald_connections_opened_total',
    help: 'WebSocket connections opened.',
    registers: [this.registry],
  });
  readonly connectionsClosed = new Counter({
    name: 'herald_connections_closed_total',
    help: 'WebSocket connections closed, by close code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'herald_auth_failures_total',
    help: 'WebSocket upgrades refused for their token, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly upgradesRefused = new Counter({
    name: 'herald_upgrades_refused_total',
    help: 'WebSocket upgrades refused before authentication, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly brokerMessages = new Counter({
    name: 'herald_broker_messages_total',
    help: 'Messages received from the broker, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly eventsDelivered = new Counter({
    name: 'herald_events_delivered_total',
    help: 'Event sends to sockets that were accepted.',
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: 'herald_events_dropped_total',
    help: 'Event sends to sockets that did not happen, by reason (the socket then resumes or is told).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'herald_delivery_latency_seconds',
    help: "Time from an event's publish timestamp to its send to the sockets on this node.",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'herald_resumes_total',
    help: 'Resume requests, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly gapsSignalled = new Counter({
    name: 'herald_gaps_signalled_total',
    help: 'herald.gap frames sent, by path (a socket resuming, or the node recovering).',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });
  readonly backfilledEvents = new Counter({
    name: 'herald_backfilled_events_total',
    help: 'Events sent from history rather than live, by path.',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });
  readonly brokerReconnects = new Counter({
    name: 'herald_broker_reconnects_total',
    help: 'Times the broker subscriber connection was lost and restored.',
    registers: [this.registry],
  });
  readonly publishRequests = new Counter({
    name: 'herald_publish_requests_total',
    help: 'POST /v1/publish requests, by HTTP status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

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
