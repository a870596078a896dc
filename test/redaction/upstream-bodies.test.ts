import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, httpTool } from '../../src/index.js';
import { listen } from '../helpers.js';

/** Upstream answers (JSON), by path: status and body. */
const answers: Record<string, [number, string]> = {
  '/embedded_error': [400, JSON.stringify({ error: 'bad request', body: JSON.stringify({ user: 'ann', password: 'pa"ss-w0rd-Secret' }) })],
  '/forbidden_echo': [403, '{"error":"forbidden","request":{"headers":{"X-Api-Key":["live-0123456789abcdef"]}}}'],
  '/card_number': [200, '{"pan": 6212345678901234569}'],
};

let server: Awaited<ReturnType<typeof listen>>;
let gateway: Gateway;
let apiKey: string;

beforeAll(async () => {
  server = await listen((request, response) => {
    const [status, body] = answers[request.url ?? ''] ?? [404, 'no route'];
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body);
  });
  gateway = createGateway({
    policy: [{ id: 'all', effect: 'allow' }],
    tools: Object.keys(answers).map((path) =>
      httpTool({
        name: `upstream${path.replaceAll('/', '.')}`,
        description: path,
        method: 'GET',
        url: `${server.url}${path}`,
        inputSchema: { type: 'object', properties: {} },
        allowPrivateNetwork: true,
      }),
    ),
  });
  ({ apiKey } = await gateway.admin.createAgent({ name: 'bot' }));
});

afterAll(async () => {
  await gateway.close();
  await server.close();
});

async function call(path: string) {
  return gateway.invoke({ agentKey: apiKey, tool: `upstream${path.replaceAll('/', '.')}` });
}

async function excerpt(path: string): Promise<string> {
  const outcome = await call(path);
  if (outcome.status !== 'error') throw new Error(`expected an upstream error, got ${outcome.status}`);
  return (outcome.error.details as { excerpt: string }).excerpt;
}

describe('an upstream error body', () => {
  it('has a password in JSON embedded in a string masked whole, escaped quotes inside it included', async () => {
    expect(await excerpt('/embedded_error')).toBe('{"error":"bad request","body":"{\\"user\\":\\"ann\\",\\"password\\":\\"***\\"}"}');
  });

  it('has an array under a sensitive header name masked whole', async () => {
    expect(await excerpt('/forbidden_echo')).toBe('{"error":"forbidden","request":{"headers":{"X-Api-Key":***}}}');
  });
});

describe('an upstream body', () => {
  it('has a card number too large for a JSON number to hold exactly masked, in the output and the record', async () => {
    const outcome = await call('/card_number');
    expect(outcome.status).toBe('succeeded');
    if (outcome.status !== 'succeeded') return;
    expect(outcome.output).toEqual({ pan: '***' });
    const record = await gateway.admin.getInvocation(outcome.invocationId);
    expect(record.output).toEqual({ pan: '***' });
  });
});
