import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES } from '@herald/gateway';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { REPO_ROOT } from '../support/paths.js';
import { formatSelector, metricSelectors, type MetricSelector } from '../support/promql.js';
import { parseSamples, selectSamples, type Sample } from '../support/prometheus-text.js';

const DEPLOY = join(REPO_ROOT, 'deploy');

function files(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function read(path: string): string {
  return readFileSync(join(DEPLOY, path), 'utf8');
}

function yamlFile<T = Record<string, unknown>>(path: string): T {
  return parse(read(path), { merge: true }) as T;
}

interface Container {
  readonly ports: { name: string; containerPort: number }[];
  readonly env: { name: string }[];
  readonly readinessProbe: { httpGet: { path: string; port: string } };
  readonly livenessProbe: { httpGet: { path: string; port: string } };
  readonly startupProbe: { httpGet: { path: string; port: string } };
  readonly lifecycle: { preStop: { exec: { command: string[] } } };
}

const deployment = yamlFile<{
  spec: { template: { metadata: { annotations: Record<string, string> }; spec: { terminationGracePeriodSeconds: number; containers: Container[] } } };
}>('kubernetes/base/deployment.yaml');
const container = deployment.spec.template.spec.containers[0] as Container;
const configMap = yamlFile<{ data: Record<string, string> }>('kubernetes/base/configmap.yaml').data;
const overlay = yamlFile<{ secretGenerator: { name: string; literals: string[] }[]; configMapGenerator: { literals: string[] }[] }>(
  'kubernetes/overlays/example/kustomization.yaml',
);
const secretKeys = overlay.secretGenerator.flatMap((secret) => secret.literals.map((literal) => literal.split('=')[0] as string));
const compose = yamlFile<{ services: Record<string, { environment?: Record<string, string> }> }>('docker-compose.yml');
const gatewayServices = Object.entries(compose.services).filter(([name]) => name.startsWith('gateway-'));

describe('deploy/ files', () => {
  it('all parse: YAML and JSON', () => {
    const parsed = files(DEPLOY).filter((path) => /\.(ya?ml|json)$/.test(path));
    expect(parsed.length).toBeGreaterThan(10);
    for (const path of parsed) {
      const text = readFileSync(path, 'utf8');
      if (path.endsWith('.json')) expect(() => JSON.parse(text)).not.toThrow();
      else for (const document of parseAllDocuments(text)) expect(document.errors.map((e) => `${relative(REPO_ROOT, path)}: ${e.message}`)).toEqual([]);
    }
  });

  it('set only variables the gateway reads, and the Kubernetes manifests carry every one of them', () => {
    const schema = Object.keys(CONFIG_VARIABLES).sort();
    const kubernetes = new Set([...Object.keys(configMap), ...secretKeys, ...container.env.map((entry) => entry.name)]);
    const composeVariables = gatewayServices.flatMap(([, service]) => Object.keys(service.environment ?? {}));
    const overlayVariables = overlay.configMapGenerator.flatMap((generator) => generator.literals.map((literal) => literal.split('=')[0] as string));
    for (const variable of [...kubernetes, ...composeVariables, ...overlayVariables]) expect(schema).toContain(variable);
    expect([...kubernetes].sort()).toEqual(schema);
    expect(secretKeys.sort()).toEqual(['HERALD_PUBLISH_KEY', 'JWT_SECRET']);
  });

  it("put probes on the admin port's /readyz and /healthz, and ports where the configuration says", () => {
    const portOf = (name: string) => container.ports.find((port) => port.name === name)?.containerPort;
    expect(portOf('http')).toBe(Number(configMap['PORT']));
    expect(portOf('admin')).toBe(Number(configMap['ADMIN_PORT']));
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(deployment.spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/port': configMap['ADMIN_PORT'],
      'prometheus.io/path': '/metrics',
    });

    const haproxy = read('haproxy/haproxy.cfg');
    expect(haproxy).toContain('http-check send meth GET uri /readyz ver HTTP/1.1');
    for (const line of haproxy.split('\n').filter((candidate) => candidate.trim().startsWith('server '))) {
      expect(line).toMatch(new RegExp(`:${configMap['PORT']} check port ${configMap['ADMIN_PORT']}\\b`));
    }
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/EXPOSE 8080 9090/);
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*\/healthz/);
    const prometheus = yamlFile<{ scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[] }>('prometheus/prometheus.yml');
    for (const scrape of prometheus.scrape_configs) {
      expect(scrape.metrics_path).toBe('/metrics');
      for (const target of scrape.static_configs.flatMap((config) => config.targets)) expect(target).toMatch(/:9090$/);
    }
    for (const [, service] of gatewayServices) {
      expect(service.environment).toMatchObject({ PORT: '8080', ADMIN_PORT: '9090' });
    }
  });

  it('give a draining pod enough time: terminationGracePeriodSeconds covers preStop and the whole drain', () => {
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    const drainSeconds = (Number(configMap['DRAIN_DELAY_MS']) + Number(configMap['DRAIN_SPREAD_MS']) + Number(configMap['DRAIN_GRACE_MS'])) / 1000;
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + drainSeconds + 5);
    const composeGrace = (yamlFile<{ 'x-gateway': { stop_grace_period: string } }>('docker-compose.yml')['x-gateway'].stop_grace_period);
    expect(Number(composeGrace.replace('s', ''))).toBeGreaterThanOrEqual(drainSeconds + 5);
  });

  it('build the image in stages, as a non-root user, on Node 20, from files that exist', () => {
    const dockerfile = read('Dockerfile');
    const stages = dockerfile.match(/^FROM .*/gm) ?? [];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.at(-1)).toMatch(/^FROM node:20\b/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "gateway\/dist\/main\.js"\]$/m);
    for (const match of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of (match[1] as string).split(' ')) expect(existsSync(join(REPO_ROOT, source))).toBe(true);
    }
  });

  it("keep tokens out of the ingress controller's access log (ingress-nginx logs query strings): the Ingress turns it off", () => {
    const ingress = yamlFile<{ metadata: { annotations: Record<string, string> } }>('kubernetes/base/ingress.yaml');
    expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/enable-access-log']).toBe('false');
  });

  it('pass haproxy -c', () => {
    const check = spawnSync('haproxy', ['-c', '-f', join(DEPLOY, 'haproxy/haproxy.cfg')], {
      encoding: 'utf8',
      env: { ...process.env, HERALD_LB_PORT: '8080' },
    });
    if (check.error) throw new Error('haproxy is required by this test: apt-get install -y haproxy (.ci/run does this)');
    expect(`${check.stdout}${check.stderr}`).toContain('Configuration file is valid');
    expect(check.status).toBe(0);
  });

  it('give every alert a runbook in deploy/README.md', () => {
    const alerts = yamlFile<{ groups: { rules: { alert: string; annotations: { runbook_url: string } }[] }[] }>('prometheus/alerts.yml');
    const readme = read('README.md');
    const rules = alerts.groups.flatMap((group) => group.rules);
    expect(rules.length).toBeGreaterThanOrEqual(5);
    for (const rule of rules) {
      expect(readme).toContain(`### ${rule.alert}\n`);
      expect(rule.annotations.runbook_url).toBe(`deploy/README.md#${rule.alert.toLowerCase()}`);
    }
  });
});

describe('metrics used by the dashboard and the alerts', () => {
  let node: TestGateway;
  let samples: Sample[];

  beforeAll(async () => {
    // Nothing has happened on this node yet: every series a panel or an alert reads must be there anyway.
    node = await startTestGateway();
    samples = parseSamples(await (await fetch(`${node.adminUrl}/metrics`)).text());
  });
  afterAll(async () => {
    await node.stop();
  });

  function selectorsInUse(): MetricSelector[] {
    const dashboards = files(join(DEPLOY, 'grafana/dashboards')).filter((path) => path.endsWith('.json'));
    const panels = dashboards.flatMap((path) => (JSON.parse(readFileSync(path, 'utf8')) as { panels: { targets: { expr: string }[] }[] }).panels);
    const alerts = yamlFile<{ groups: { rules: { expr: string }[] }[] }>('prometheus/alerts.yml');
    const hpa = yamlFile<{ spec: { metrics: { pods?: { metric: { name: string } } }[] } }>('kubernetes/base/horizontalpodautoscaler.yaml');
    const expressions = [
      ...panels.flatMap((panel) => panel.targets.map((target) => target.expr)),
      ...alerts.groups.flatMap((group) => group.rules.map((rule) => rule.expr)),
      ...hpa.spec.metrics.flatMap((metric) => (metric.pods ? [metric.pods.metric.name] : [])),
    ];
    const unique = new Map(expressions.flatMap(metricSelectors).map((selector) => [formatSelector(selector), selector]));
    return [...unique.values()];
  }

  it('all have a sample in the /metrics of a freshly started node', () => {
    const selectors = selectorsInUse();
    expect(selectors.length).toBeGreaterThan(15);
    const missing = selectors.filter((selector) => selectSamples(samples, selector).length === 0).map(formatSelector);
    expect(missing).toEqual([]);
  });

  it('are read with their label matchers', () => {
    const name = 'herald_events_dropped_total';
    const backpressure = { label: 'reason', op: '=', value: 'backpressure' } as const;
    const gatewayNodes = { label: 'node', op: '=~', value: 'gw-.*' } as const;
    expect(metricSelectors(`sum by (node) (rate(${name}{reason="backpressure", node=~"gw-.*"}[5m])) > 0`)).toEqual([
      { name, matchers: [backpressure, gatewayNodes] },
    ]);
    expect(selectSamples(samples, { name, matchers: [backpressure] })).toHaveLength(1);
    expect(selectSamples(samples, { name, matchers: [backpressure, gatewayNodes] })).toHaveLength(0);
  });

  it('the dashboard covers connections, delivery rate, latency, drops, Redis health, CPU and memory', () => {
    const text = read('grafana/dashboards/herald.json');
    for (const needle of [
      'herald_connections',
      'herald_events_delivered_total',
      'histogram_quantile(0.5',
      'histogram_quantile(0.99',
      'herald_events_dropped_total',
      'herald_broker_connected',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(needle);
    }
  });
});
