/**
 * What every benchmark scenario shares: the upstream's customer record, the tool and the
 * request each door receives, the agent and admin credentials, and the policy. One place,
 * so no scenario gets a cheaper payload or a lighter request than another.
 */

/** The customer every scenario asks for. */
export const customerId = 'cus_1042';

/** Personal data in the record: the governed doors must never let these out in clear. */
export const customerEmail = 'ada.lovelace@example.com';
export const customerPhone = '+1 415 555 0142';
export const customerCard = '4111 1111 1111 1111';

/** The upstream's API credential: the gateway holds it sealed; the baselines send it in clear. */
export const upstreamAuthorization = 'Bearer crm-live-7f3a9c2e5b8d1f4a6c0e';

/** Admin token of the approval round trip (≥ 24 characters, approver role). */
export const approverToken = 'bench-approver-token-5b8d1f4a6c0e7f3a9c2e';

/** The ~2 KiB JSON customer record the upstream answers every request with. */
export function customerRecord(): Record<string, unknown> {
  return {
    id: customerId,
    object: 'customer',
    name: 'Ada Lovelace',
    email: customerEmail,
    phone: customerPhone,
    company: 'Analytical Engines Ltd',
    address: { street: '12 St James Square', city: 'London', postcode: 'SW1Y 4JH', country: 'GB' },
    payment: { card: customerCard, brand: 'visa', expires: '2029-08', holder: 'A. Lovelace' },
    notes:
      'Prefers e-mail contact. Asked on the last call to update the billing contact and to move the renewal date ' +
      'to the first working day of the month; no open tickets at the moment.',
    orders: Array.from({ length: 10 }, (_, index) => ({
      id: `ord_${20481 + index}`,
      sku: `SKU-${1042 + index}-${index % 2 === 0 ? 'A' : 'B'}`,
      amount: 1999 + index * 250,
      currency: 'GBP',
      status: index % 3 === 0 ? 'delivered' : 'shipped',
      placedAt: new Date(Date.UTC(2025, index, 3 + index)).toISOString(),
    })),
    tags: ['customer', 'priority', 'emea'],
    createdAt: '2019-03-14T09:26:53.000Z',
    updatedAt: '2025-10-02T17:45:12.000Z',
    metadata: { source: 'crm', score: 0.87, segment: 'enterprise', accountManager: 'c.babbage', region: 'eu-west-2' },
  };
}

/** The record as the upstream sends it (serialised once). */
export const customerJson = JSON.stringify(customerRecord());

/** The tool every HTTP scenario calls. */
export const customerToolName = 'crm.get_customer';
/** The same record from a local function (in-process scenario and memory scenario). */
export const localCustomerToolName = 'crm.get_customer_local';
/** A local tool whose output is tiny (`{ ok: true }`): the pipeline's fixed cost, without payload-sized work. */
export const localPingToolName = 'crm.ping_local';
/** The tool whose large amounts need a human (approval round trip). */
export const refundToolName = 'payments.refund';

/** The tool's input in every request. */
export const customerInput = { id: customerId };

/** JSON Schema of the customer tools' input. */
export const customerInputSchema = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^cus_[0-9a-z]{1,32}$' } },
  required: ['id'],
  additionalProperties: false,
} as const;

/** JSON Schema of the refund tool's input. */
export const refundInputSchema = {
  type: 'object',
  properties: {
    customerId: { type: 'string', pattern: '^cus_[0-9a-z]{1,32}$' },
    amount: { type: 'number', minimum: 1 },
    reference: { type: 'string', maxLength: 64 },
  },
  required: ['customerId', 'amount', 'reference'],
  additionalProperties: false,
} as const;

/** Field rules on top of the default detectors (which catch the e-mail, phone and card). */
export const customerRedaction = { paths: ['$.address.street', '$.payment.holder'] };

/** The policy: rules with argument conditions, evaluated on every call. */
export const benchPolicy = [
  {
    id: 'support-reads-customers',
    effect: 'allow' as const,
    agents: ['tag:support'],
    tools: [customerToolName, localCustomerToolName, localPingToolName],
    when: [{ path: '$.id', op: 'matches' as const, value: '^cus_' }],
  },
  {
    id: 'no-vip-records',
    effect: 'deny' as const,
    tools: ['crm.*'],
    when: [{ path: '$.id', op: 'in' as const, value: ['cus_vip1', 'cus_vip2', 'cus_board'] }],
  },
  { id: 'support-refunds', effect: 'allow' as const, agents: ['tag:support'], tools: [refundToolName] },
  {
    id: 'large-refunds-need-approval',
    effect: 'require_approval' as const,
    tools: [refundToolName],
    when: [{ path: '$.amount', op: 'gt' as const, value: 100 }],
  },
];

/** The 2026-07-28 `_meta` every modern request carries. */
export const modernMeta = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'atg-bench', version: '1.0.0' },
};

/** `tools/call` of the customer tool in the 2026-07-28 era: body and the headers mirroring it. */
export function modernToolCall(id: number | string = 1): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: customerToolName, arguments: customerInput, _meta: modernMeta },
    }),
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': customerToolName,
    },
  };
}

/** `tools/call` of the customer tool in the 2025 era (2025-11-25, stateless, no handshake). */
export function legacyToolCall(id: number | string = 1): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: customerToolName, arguments: customerInput } }),
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
  };
}

/** REST invoke of the customer tool. */
export function restInvoke(): { path: string; body: string; headers: Record<string, string> } {
  return {
    path: `/tools/${customerToolName}/invoke`,
    body: JSON.stringify({ input: customerInput }),
    headers: { 'content-type': 'application/json', accept: 'application/json' },
  };
}
