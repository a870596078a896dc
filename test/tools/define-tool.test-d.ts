import { describe, expectTypeOf, it } from 'vitest';
import { type JsonSchema, defineTool } from '../../src/index.js';

describe('defineTool types', () => {
  it('infers the handler input from an as-const schema', () => {
    defineTool({
      name: 'orders.get',
      description: 'x',
      inputSchema: {
        type: 'object',
        properties: { orderId: { type: 'string' }, limit: { type: 'integer' } },
        required: ['orderId'],
        additionalProperties: false,
      } as const,
      handler: (input) => {
        expectTypeOf(input.orderId).toEqualTypeOf<string>();
        expectTypeOf(input.limit).toEqualTypeOf<number | undefined>();
        // @ts-expect-error the schema has no such field
        void input.customerId;
        return {};
      },
    });
  });

  it('refuses an annotation on the handler that the as-const schema does not give', () => {
    const inputSchema = {
      type: 'object',
      properties: { orderId: { type: 'string' } },
      required: ['orderId'],
      additionalProperties: false,
    } as const;
    defineTool({
      name: 'orders.total',
      description: 'x',
      inputSchema,
      // @ts-expect-error orderId is a string by the schema
      handler: async (input: { orderId: number }) => ({ total: input.orderId.toFixed(2) }),
    });
    // The annotation the schema gives is fine.
    defineTool({ name: 'orders.get', description: 'x', inputSchema, handler: async (input: { orderId: string }) => input });
  });

  it('takes the handler annotation for a schema whose type says nothing (a variable typed JsonSchema, a JSON file)', () => {
    const inputSchema: JsonSchema = { type: 'object', properties: { orderId: { type: 'string' } } };
    const tool = defineTool({
      name: 'orders.get',
      description: 'x',
      inputSchema,
      handler: async (input: { orderId: string }) => ({ id: input.orderId }),
    });
    expectTypeOf(tool.handler).parameter(0).toEqualTypeOf<{ orderId: string }>();
    defineTool({
      name: 'orders.any',
      description: 'x',
      inputSchema,
      handler: (input) => {
        expectTypeOf(input).toEqualTypeOf<unknown>();
        return {};
      },
    });
  });
});
