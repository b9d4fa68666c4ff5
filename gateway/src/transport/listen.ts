import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { UwsModule } from './uws.js';

/** A port this node was told to listen on is taken or not available. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

type ListenWithOptions = (
  host: string,
  port: number,
  options: number,
  callback: (socket: us_listen_socket | false) => void,
) => TemplatedApp;

/**
 * Listens without SO_REUSEPORT, so a port another process holds is refused instead of silently
 * shared (uWS reuses ports by default: two gateways on one port would split its traffic).
 * `variable` names the setting to change in the error.
 */
export function listenExclusive(
  uws: UwsModule,
  app: TemplatedApp,
  host: string,
  port: number,
  variable: string,
): Promise<us_listen_socket> {
  // The binding exports the flag and takes (host, port, options, callback); the typings have neither.
  const exclusive = (uws as unknown as { readonly LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown }).LIBUS_LISTEN_EXCLUSIVE_PORT;
  if (typeof exclusive !== 'number') {
    return Promise.reject(new ListenError('this uWebSockets.js binding cannot listen exclusively (no LIBUS_LISTEN_EXCLUSIVE_PORT)'));
  }
  return new Promise((resolve, reject) => {
    (app.listen as unknown as ListenWithOptions).call(app, host, port, exclusive, (socket) => {
      if (socket) resolve(socket);
      else reject(new ListenError(`${variable}=${port}: cannot listen on ${host}:${port} (already in use, or not available)`));
    });
  });
}
