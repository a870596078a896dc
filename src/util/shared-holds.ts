/**
 * Who still uses a store, approver or audit sink that several gateways (or audit logs) in one
 * process were given: each holds it while open, and only the last to close closes it, so that
 * closing one gateway does not break another still serving with the same object.
 */
const holders = new WeakMap<object, number>();

/** Records one more open user of `resource`. */
export function hold(resource: object): void {
  holders.set(resource, (holders.get(resource) ?? 0) + 1);
}

/** Gives up one user's hold on `resource`; true when no other holds it and it is to be closed. */
export function release(resource: object): boolean {
  const left = (holders.get(resource) ?? 1) - 1;
  if (left > 0) {
    holders.set(resource, left);
    return false;
  }
  holders.delete(resource);
  return true;
}
