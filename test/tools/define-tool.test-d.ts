import { describe, expectTypeOf, it } from 'vitest';
import { defineTool } from '../../src/index.js';

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
});
