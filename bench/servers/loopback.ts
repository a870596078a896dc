/**
 * The part every benchmark server shares: listen on 127.0.0.1 (port 0), tell the bench
 * where, answer its questions, profile on request (`profile-start` with a `file`, then
 * `profile-stop`, answered by `profile-written`), and close cleanly when asked to stop.
 */
import { type RequestListener, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BenchMessage, onParentMessage, sendToParent } from '../child-process.js';
import { type RunningProfile, startCpuProfile } from '../cpu-profiler.js';

/** Serves `listener` on loopback and reports `{ type: 'ready', url, ...readyFields }` to the bench. */
export async function serveOnLoopback(
  listener: RequestListener,
  options: {
    onMessage?: (message: BenchMessage) => void | Promise<void>;
    onClose?: () => Promise<void>;
    /** Sent along with the address, e.g. the agent key of a gateway. */
    readyFields?: Record<string, unknown>;
  } = {},
): Promise<void> {
  const server = createServer({ keepAliveTimeout: 30_000 }, listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let profile: RunningProfile | undefined;
  onParentMessage(
    async (message) => {
      if (message.type === 'profile-start') profile = await startCpuProfile(String(message.file));
      else if (message.type === 'profile-stop') {
        await profile?.stop();
        profile = undefined;
        await sendToParent({ type: 'profile-written' });
      } else await options.onMessage?.(message);
    },
    async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await options.onClose?.();
    },
  );
  await sendToParent({ ...options.readyFields, type: 'ready', url: `http://127.0.0.1:${port}` });
}
