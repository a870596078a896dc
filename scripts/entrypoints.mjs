// The one list of public entry points. tsup.config.ts and vitest.config.ts import it;
// test/package.test.ts checks that package.json `exports`, tsconfig `paths` and
// typedoc.json `entryPoints` say the same.
export const entrypoints = {
  '.': 'src/index.ts',
  './node': 'adapters/node.ts',
  './express': 'adapters/express.ts',
  './fastify': 'adapters/fastify.ts',
  './koa': 'adapters/koa.ts',
  './next': 'adapters/next.ts',
  './sql': 'src/store/sql/index.ts',
  './testing': 'src/testing/index.ts',
  './testing/fake-upstream': 'src/testing/fake-upstream.ts',
};
