/**
 * Micro-benchmark of the redaction engine: one compiled tool profile (secrets, path rules,
 * default detectors) over a ~2 KiB and a ~200 KiB JSON payload, as values and as text.
 *
 *   npx tsx bench/redaction.ts
 */
import { createRedactor } from 'agent-tool-gateway';

const upstreamSecret = 'crm-live-7f3a9c2e5b8d1f4a6c0e';

function customer(index: number): Record<string, unknown> {
  return {
    id: `cus_${(100000 + index).toString(36)}`,
    name: `Customer ${index}`,
    email: `customer.${index}@example.com`,
    phone: `+1 415 555 ${String(1000 + (index % 9000)).padStart(4, '0')}`,
    address: { street: `${index} Market Street`, city: 'San Francisco', zip: '94105', country: 'US' },
    notes:
      index % 7 === 0
        ? `Called about invoice ${index}; paid with card 4111 1111 1111 1111, asked to update the billing contact.`
        : `Prefers e-mail contact. Account opened in ${2015 + (index % 10)}, tier ${index % 3}, no open tickets at the moment.`,
    orders: [
      { sku: `SKU-${index}-A`, amount: 1999 + index, currency: 'USD', status: 'shipped' },
      { sku: `SKU-${index}-B`, amount: 4999, currency: 'USD', status: index % 5 === 0 ? 'refunded' : 'delivered' },
    ],
    createdAt: new Date(Date.UTC(2024, index % 12, (index % 28) + 1)).toISOString(),
    tags: ['customer', index % 2 === 0 ? 'priority' : 'standard'],
    metadata: { source: 'crm', score: (index % 100) / 100, apiKey: index % 11 === 0 ? upstreamSecret : undefined },
  };
}

function payloadOfSize(bytes: number): { customers: Record<string, unknown>[]; nextCursor: string } {
  const customers: Record<string, unknown>[] = [];
  const payload = { customers, nextCursor: 'c_2b8d1f' };
  while (JSON.stringify(payload).length < bytes) customers.push(customer(customers.length));
  return payload;
}

const redactor = createRedactor();
const compiled = redactor.compile({
  secrets: [upstreamSecret],
  paths: ['$.customers[*].address.street', { path: '$..zip', mode: 'partial' }],
});

function measure(label: string, run: () => unknown, bytes: number): void {
  const warmUpUntil = performance.now() + 300;
  while (performance.now() < warmUpUntil) run();
  let operations = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < 1500) {
    run();
    operations++;
    elapsed = performance.now() - started;
  }
  const microseconds = (elapsed * 1000) / operations;
  const operationsPerSecond = operations / (elapsed / 1000);
  const megabytesPerSecond = (bytes * operationsPerSecond) / (1024 * 1024);
  console.log(
    `${label.padEnd(38)} ${String(Math.round(operationsPerSecond)).padStart(9)} ops/s ${microseconds.toFixed(1).padStart(10)} µs/op ${megabytesPerSecond.toFixed(1).padStart(7)} MiB/s`,
  );
}

const small = payloadOfSize(2 * 1024);
const large = payloadOfSize(200 * 1024);
const smallText = JSON.stringify(small);
const largeText = JSON.stringify(large);

console.log(`node ${process.version}; payloads ${smallText.length} B and ${largeText.length} B`);
measure('value, ~2 KiB', () => compiled.value(small), smallText.length);
measure('value, ~200 KiB', () => compiled.value(large), largeText.length);
measure('text, ~2 KiB', () => compiled.text(smallText), smallText.length);
measure('text, ~200 KiB', () => compiled.text(largeText), largeText.length);
measure('compile (profile above)', () => redactor.compile({ secrets: [upstreamSecret], paths: ['$..zip'] }), 0);
measure('reference: JSON round trip, ~200 KiB', () => JSON.parse(JSON.stringify(large)), largeText.length);
