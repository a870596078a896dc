// Every method under /api/atg goes to the gateway: /api/atg/mcp, /api/atg/tools, /api/atg/admin/...
import { toNextHandlers } from 'agent-tool-gateway/next';
import { gateway } from '../../../../lib/gateway.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export const { GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS } = toNextHandlers(gateway, { basePath: '/api/atg' });
