import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A node:http server on 127.0.0.1, port 0. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JSON request to a gateway's fetch. */
export function jsonRequest(
  path: string,
  options: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Request {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return new Request(`http://gateway.test${path}`, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
  });
}

/** A promise and the function that settles it, for waiting on an event of a test server. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/**
 * An upstream on 127.0.0.1 that never answers: `arrived` settles when a request comes in,
 * `closed` when the connection it came on is closed (by a deadline or a cancellation).
 */
export async function silentUpstream(): Promise<Awaited<ReturnType<typeof listen>> & { arrived: Promise<void>; closed: Promise<void> }> {
  const arrived = deferred();
  const closed = deferred();
  const upstream = await listen((req) => {
    req.socket.once('close', closed.resolve);
    arrived.resolve();
  });
  return { ...upstream, arrived: arrived.promise, closed: closed.promise };
}
