export { createUpstreamClient, type UpstreamClient, type UpstreamClientOptions, type UpstreamRoute } from './client.js';
export {
  createHttpExecutor,
  type HttpCallContext,
  type HttpExecution,
  type HttpExecutor,
  type HttpExecutorOptions,
  type HttpResponseOutput,
} from './executor.js';
export { type HostResolver, isAddressRefused, UpstreamAddressRefusedError } from './guarded-connector.js';
export {
  type AddressClass,
  classifyAddress,
  compileNetworkPolicy,
  type NetworkPolicy,
  type PrivateNetworkAllowance,
} from './network-policy.js';
export type { BinaryBody } from './response-output.js';
