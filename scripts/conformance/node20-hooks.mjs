// Module hooks for running the official MCP conformance CLI on Node 20: its bundle imports
// `globSync` from `fs`, which Node 20 lacks. Only imports made by the conformance package
// are redirected to a module that adds a small globSync; everything else is untouched.
const shim = new URL('./node20-fs.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL?.includes('/conformance-20')) {
    return { url: shim, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
