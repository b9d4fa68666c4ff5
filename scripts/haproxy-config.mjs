// The fleet's HAProxy configuration: deploy/haproxy/haproxy.cfg with its servers filled in.
// Shared by the fleet launcher and the load tool's `--fleet`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const templatePath = fileURLToPath(new URL('../deploy/haproxy/haproxy.cfg', import.meta.url));

/**
 * `nodes`: [{ id, port, adminPort }]. `fleetId` is sent back on every answer (x-herald-fleet), so
 * that another process on the load balancer's port is never taken for this HAProxy. The port
 * HAProxy listens on comes from HERALD_LB_PORT in its environment.
 */
export function haproxyConfig(nodes, fleetId) {
  const template = readFileSync(templatePath, 'utf8');
  const servers = nodes.map((node) => `  server ${node.id} 127.0.0.1:${node.port} check port ${node.adminPort}`).join('\n');
  return template.replace(
    / {2}# servers: begin[\s\S]*# servers: end/,
    `  http-response set-header x-herald-fleet ${fleetId}\n  # servers: begin\n${servers}\n  # servers: end`,
  );
}
