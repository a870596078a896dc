import { startChild } from './child-process.js';
import { modernToolCall, legacyToolCall, restInvoke } from './fixtures.js';
const up = startChild('servers/upstream.ts');
const upUrl = (await up.next('ready')).url as string;
const gw = startChild('servers/gateway.ts', { args: [`--upstream=${upUrl}`] });
const key = (await gw.next('agent')).agentKey as string;
const url = (await gw.next('ready')).url as string;
const auth = { authorization: `Bearer ${key}` };
for (const call of [modernToolCall(), legacyToolCall()]) {
  const r = await fetch(url + '/mcp', { method: 'POST', headers: { ...call.headers, ...auth }, body: call.body });
  console.log(r.status, r.headers.get('content-type'), (await r.text()));
}
const rest = restInvoke();
const r = await fetch(url + rest.path, { method: 'POST', headers: { ...rest.headers, ...auth }, body: rest.body });
console.log(r.status, await r.text());
console.log(await up.ask({ type: 'count' }, 'count'));
await gw.stop(); await up.stop();
