import { GatewayError } from '../errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Refuses input nested deeper than `maxDepth`, or carrying a key that could reach an
 * object's prototype (`__proto__`, `constructor`, `prototype`), before it gets anywhere near
 * a handler. One iterative walk: no recursion, so hostile nesting cannot blow the stack.
 */
export function assertSafeInput(input: unknown, maxDepth: number): void {
  if (input === null || typeof input !== 'object') return;
  const stack: Array<[unknown, number]> = [[input, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (depth > maxDepth) {
      throw new GatewayError({ code: 'BAD_REQUEST', message: `Input is nested deeper than ${maxDepth} levels` });
    }
    if (Array.isArray(value)) {
      for (const element of value) {
        if (element !== null && typeof element === 'object') stack.push([element, depth + 1]);
      }
      continue;
    }
    for (const key of Object.keys(value as object)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw new GatewayError({ code: 'BAD_REQUEST', message: `Input contains the forbidden key "${key}"` });
      }
      const child = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}
