/**
 * Sets `target[key] = value` as an own data member, whatever the key. Plain assignment to a
 * key spelt `"__proto__"` would call Object.prototype's setter and replace the object's
 * prototype instead (JSON.parse makes such a key an ordinary own member, and data copied or
 * rebuilt from it must keep it so); every other key is assigned, the fast way.
 */
export function setOwnMember(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
