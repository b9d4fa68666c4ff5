// What the fleet launcher (`npm run fleet`) and the load tool's `--fleet` share: free ports, the
// settings of a gateway node of a local fleet, and HAProxy's configuration in front of them.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const templatePath = fileURLToPath(new URL('../deploy/haproxy/haproxy.cfg', import.meta.url));

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The environment of local node `node` ({ id, port, adminPort }): its ports, its Redis (`redisUrl`,
 * or a Redis Cluster's `clusterNodes` as "host:port" strings), the fleet's JWT secret and publish
 * key, and a drain that hands its sockets back within a few seconds. `behindProxy`: clients reach
 * it through HAProxy (X-Forwarded-For is trusted).
 */
export function nodeEnv(node, { redisUrl, clusterNodes, secret, publishKey, behindProxy }) {
  return {
    NODE_ID: node.id,
    HOST: '127.0.0.1',
    PORT: String(node.port),
    ADMIN_PORT: String(node.adminPort),
    // Both always set (empty is unset), so neither is inherited from the environment next to the other.
    REDIS_URL: redisUrl ?? '',
    REDIS_CLUSTER_NODES: clusterNodes?.join(',') ?? '',
    JWT_SECRET: secret,
    HERALD_PUBLISH_KEY: publishKey,
    TRUST_PROXY: behindProxy ? 'true' : 'false',
    DRAIN_DELAY_MS: '1000',
    DRAIN_SPREAD_MS: '2000',
    DRAIN_GRACE_MS: '2000',
  };
}

/**
 * deploy/haproxy/haproxy.cfg with `nodes` as its servers. `fleetId` is sent back on every answer
 * (x-herald-fleet), so that another process on the load balancer's port is never taken for this
 * HAProxy. The port HAProxy listens on comes from HERALD_LB_PORT in its environment.
 */
export function haproxyConfig(nodes, fleetId) {
  const template = readFileSync(templatePath, 'utf8');
  const servers = nodes.map((node) => `  server ${node.id} 127.0.0.1:${node.port} check port ${node.adminPort}`).join('\n');
  return template.replace(
    / {2}# servers: begin[\s\S]*# servers: end/,
    `  http-response set-header x-herald-fleet ${fleetId}\n  # servers: begin\n${servers}\n  # servers: end`,
  );
}
