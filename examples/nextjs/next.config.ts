import type { NextConfig } from 'next';

const config: NextConfig = {
  // The gateway's dependencies run as plain Node modules, not bundled.
  serverExternalPackages: ['zod', 'ajv', 'ajv-formats', 'jose', 'undici', '@noble/ciphers', 'ipaddr.js', 'safe-regex2'],
};

export default config;
