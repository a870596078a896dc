/**
 * The part every benchmark server shares: listen on 127.0.0.1 (port 0), tell the bench
 * where, answer its questions, and close cleanly when asked to stop.
 */
import { type RequestListener, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BenchMessage, onParentMessage, sendToParent } from '../child-process.js';

/** Serves `listener` on loopback and reports `{ type: 'ready', url }` to the bench. */
export async function serveOnLoopback(
  listener: RequestListener,
  options: { onMessage?: (message: BenchMessage) => void | Promise<void>; onClose?: () => Promise<void> } = {},
): Promise<void> {
  const server = createServer({ keepAliveTimeout: 30_000 }, listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  onParentMessage(
    (message) => options.onMessage?.(message),
    async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await options.onClose?.();
    },
  );
  await sendToParent({ type: 'ready', url: `http://127.0.0.1:${port}` });
}
