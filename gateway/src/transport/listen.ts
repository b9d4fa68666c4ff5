import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { UwsModule } from './uws.js';

/** An address this node was told to listen on is taken or not available. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

const HOST_VARIABLE = { PORT: 'HOST', ADMIN_PORT: 'ADMIN_HOST' } as const;

type ListenWithOptions = (
  host: string,
  port: number,
  options: number,
  callback: (socket: us_listen_socket | false) => void,
) => TemplatedApp;

/**
 * Listens without SO_REUSEPORT, so a port another process holds is refused instead of silently
 * shared (uWS reuses ports by default: two gateways on one port would split its traffic).
 * The error names `portVariable` and the host variable that goes with it: either may be the one to change.
 */
export function listenExclusive(
  uws: UwsModule,
  app: TemplatedApp,
  host: string,
  port: number,
  portVariable: keyof typeof HOST_VARIABLE,
): Promise<us_listen_socket> {
  // The binding exports the flag and takes (host, port, options, callback); the typings have neither.
  const exclusive = (uws as unknown as { readonly LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown }).LIBUS_LISTEN_EXCLUSIVE_PORT;
  if (typeof exclusive !== 'number') {
    return Promise.reject(new ListenError('this uWebSockets.js binding cannot listen exclusively (no LIBUS_LISTEN_EXCLUSIVE_PORT)'));
  }
  return new Promise((resolve, reject) => {
    (app.listen as unknown as ListenWithOptions).call(app, host, port, exclusive, (socket) => {
      if (socket) {
        resolve(socket);
        return;
      }
      const address = `${HOST_VARIABLE[portVariable]}=${host} ${portVariable}=${port}`;
      reject(new ListenError(`cannot listen on ${address}: the address is in use or not available`));
    });
  });
}
