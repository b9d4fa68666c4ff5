// Every fetch in the tests closes its connection once answered. Many suites run gateways inside the
// test process, and uWebSockets.js keeps a process alive while the server end of a kept-alive
// connection is open: a test file would outlive its last test by fetch's idle timeout (4 s), and
// Jest would report its worker as failing to exit.
const fetchKeepingAlive = globalThis.fetch;

globalThis.fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set('connection', 'close');
  return fetchKeepingAlive(input, { ...init, headers });
};
