import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics.js';
import { errorBody, guardResponse, writeJson } from './http.js';
import { listenExclusive } from './listen.js';
import { registerProbes, type ProbeSources } from './routes.js';
import type { UwsModule } from './uws.js';

export interface AdminServer {
  readonly port: number;
  close(): void;
}

export interface AdminOptions extends ProbeSources {
  readonly uws: UwsModule;
  readonly host: string;
  readonly port: number;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}

/** The admin listener: Prometheus metrics and health probes, apart from public traffic. */
export async function startAdminServer(options: AdminOptions): Promise<AdminServer> {
  const app = options.uws.App();
  registerProbes(app, options);
  app.get('/metrics', (res) => {
    const guard = guardResponse(res);
    options.metrics.registry.metrics().then(
      (text) => {
        if (guard.aborted) return;
        res.cork(() => {
          res.writeHeader('content-type', options.metrics.registry.contentType);
          res.end(text);
        });
      },
      (error: unknown) => {
        options.logger.error({ err: error }, 'collecting metrics failed');
        if (!guard.aborted) res.cork(() => writeJson(res, { status: 500, body: errorBody('internal_error', 'metrics failed') }));
      },
    );
  });
  app.any('/*', (res, req) => {
    writeJson(res, { status: 404, body: errorBody('not_found', `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`) });
  });
  const listenSocket = await listenExclusive(options.uws, app, options.host, options.port, 'ADMIN_PORT');
  return {
    port: options.uws.us_socket_local_port(listenSocket),
    close: () => options.uws.us_listen_socket_close(listenSocket),
  };
}
