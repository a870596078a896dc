// The gateway the official MCP conformance suite runs against: its local tools are the
// suite's fixture tools. The suite sends no credentials, so this example (and only this
// example) hands every /mcp request without an Authorization header the key of a demo
// agent; everything else is the real gateway, with the real pipeline.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createGateway, defineTool } from 'agent-tool-gateway';
import { createNodeHandler } from 'agent-tool-gateway/node';

const empty = { type: 'object', properties: {} } as const;
// A 1×1 transparent PNG and a 4-sample silent WAV.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const WAV = 'UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQgAAAAAAAAAAAAAAA==';

const tools = [
  defineTool({
    name: 'test_simple_text',
    description: 'Returns a simple text response',
    inputSchema: empty,
    handler: () => 'This is a simple text response for testing.',
  }),
  defineTool({
    name: 'test_error_handling',
    description: 'Always fails',
    inputSchema: empty,
    handler: () => {
      throw new Error('This tool intentionally returns an error for testing');
    },
  }),
  defineTool({
    name: 'test_image_content',
    description: 'Returns an image',
    inputSchema: empty,
    outputFormat: 'mcp-content',
    handler: () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }),
  }),
  defineTool({
    name: 'test_audio_content',
    description: 'Returns audio',
    inputSchema: empty,
    outputFormat: 'mcp-content',
    handler: () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }),
  }),
  defineTool({
    name: 'test_embedded_resource',
    description: 'Returns an embedded resource',
    inputSchema: empty,
    outputFormat: 'mcp-content',
    handler: () => ({
      content: [
        {
          type: 'resource',
          resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
        },
      ],
    }),
  }),
  defineTool({
    name: 'test_multiple_content_types',
    description: 'Returns text, an image and a resource',
    inputSchema: empty,
    outputFormat: 'mcp-content',
    handler: () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' },
        },
      ],
    }),
  }),
  defineTool({
    name: 'json_schema_2020_12_tool',
    description: 'A tool whose input schema uses JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: {
          $anchor: 'addressDef',
          type: 'object',
          properties: { street: { type: 'string' }, city: { type: 'string' } },
        },
      },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' },
      },
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { properties: { contactMethod: { const: 'phone' } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword
      then: { required: ['phone'] },
      else: { required: ['email'] },
      additionalProperties: false,
    } as const,
    handler: (input) => ({ received: input }),
  }),
  defineTool({
    name: 'test_header_param',
    description: 'Echoes a value that MCP clients also send as a header',
    inputSchema: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } }, required: ['region'] } as never,
    handler: (input) => ({ region: (input as { region: string }).region }),
  }),
  defineTool({
    name: 'test_logging_tool',
    description: 'Completes without logging (this gateway sends no notifications)',
    inputSchema: empty,
    handler: () => 'done',
  }),
  defineTool({
    name: 'test_streaming_elicitation',
    description: 'Completes without elicitation (not offered by this gateway)',
    inputSchema: empty,
    handler: () => 'done',
  }),
];

/** Starts the conformance gateway on 127.0.0.1; port 0 picks a free one. */
export async function startConformanceServer(port = 0) {
  const gateway = createGateway({
    tools,
    policy: [{ id: 'fixtures', effect: 'allow' }],
    mcp: { allowedHosts: ['localhost', '127.0.0.1', '[::1]'] },
  });
  const { apiKey } = await gateway.admin.createAgent({ name: 'conformance-suite' });
  const handler = createNodeHandler(gateway);
  const server = createServer((req, res) => {
    if (req.headers.authorization === undefined) {
      // The suite sends no credentials; give it the demo agent's (see the note at the top).
      req.headers.authorization = `Bearer ${apiKey}`;
      req.rawHeaders.push('Authorization', `Bearer ${apiKey}`);
    }
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://localhost:${address.port}/mcp`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await startConformanceServer(Number(process.env.PORT ?? 3001));
  console.log(`conformance gateway on ${running.url}`);
}
