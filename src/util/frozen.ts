/**
 * Read-only JSON trees. A small value the gateway keeps as evidence (an audit event) is
 * frozen once, all the way down, and its root carries a hidden mark; stores can then share it
 * instead of copying it, since nobody can change it afterwards. (A mark on the root, not a
 * WeakSet: adding to a weak collection costs more than the copy it saves. Freezing is not
 * free either: V8 gives every frozen object a new shape, so a large tree is cheaper to copy.)
 */

/** Non-enumerable, so JSON, `Object.keys` and equality checks never see it. */
const FROZEN_TREE: unique symbol = Symbol('agent-tool-gateway.frozenTree');
const MARK: PropertyDescriptor = { value: true, enumerable: false, writable: false, configurable: false };

/**
 * Freezes every object and array in `value` (a JSON-shaped tree: no cycles) and marks the root
 * as a frozen tree. Returns `value`. A subtree already marked is not walked again.
 */
export function freezeTree<T>(value: T): T {
  if (value === null || typeof value !== 'object' || isFrozenTree(value)) return value;
  Object.defineProperty(value, FROZEN_TREE, MARK);
  const pending: object[] = [value];
  while (pending.length > 0) {
    const container = pending.pop() as Record<string, unknown>;
    if (isFrozenTree(container) && container !== value) continue;
    if (Array.isArray(container)) {
      for (let index = 0; index < container.length; index++) {
        const element: unknown = container[index];
        if (element !== null && typeof element === 'object') pending.push(element);
      }
    } else {
      for (const key in container) {
        const member = container[key];
        if (member !== null && typeof member === 'object') pending.push(member);
      }
    }
    Object.freeze(container);
  }
  return value;
}

/**
 * Marks `value` as a frozen tree and freezes it; its maker froze every container below it
 * already. Returns `value`.
 */
export function markFrozenTree<T extends object>(value: T): T {
  Object.defineProperty(value, FROZEN_TREE, MARK);
  return Object.freeze(value);
}

/** True when `value` is the root of a frozen tree: it can be shared, not copied. */
export function isFrozenTree(value: object): boolean {
  return (value as { [FROZEN_TREE]?: boolean })[FROZEN_TREE] === true && Object.isFrozen(value);
}
