import { Counter, Histogram, Registry } from 'prom-client';

/** The publisher's own metrics, in a registry the application exposes as it likes. */
export class PublisherMetrics {
  readonly registry: Registry;
  readonly published: Counter<'duplicate'>;
  readonly failed: Counter<'code'>;
  readonly retries: Counter;
  readonly duration: Histogram;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.published = new Counter({
      name: 'herald_publisher_published_total',
      help: 'Events published (duplicate="true": an idempotency key that had already published).',
      labelNames: ['duplicate'] as const,
      registers: [registry],
    });
    this.failed = new Counter({
      name: 'herald_publisher_failed_total',
      help: 'Publishes that failed, by error code (validation errors included).',
      labelNames: ['code'] as const,
      registers: [registry],
    });
    this.retries = new Counter({
      name: 'herald_publisher_retries_total',
      help: 'Retries of publishes after transient Redis errors.',
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'herald_publisher_publish_duration_seconds',
      help: 'Time from publish() to its result (receipts included when confirm is on).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }
}
