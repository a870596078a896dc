/** What a gateway changed: stored tools, stored policy rules, or agents. */
export type ChangeKind = 'tools' | 'policies' | 'agents';

/** How a gateway takes in a change another gateway made; settles once it applies here, never rejects. */
export type ChangeListener = (kind: ChangeKind) => Promise<void>;

/**
 * The gateways of this process, by the store object they were given. A change made through
 * one of them is told to the others directly: the store's own announcements (`watch`) do
 * not reach them, since a store does not hear itself, and the memory store announces nothing.
 */
const listeners = new WeakMap<object, Set<ChangeListener>>();

/** Hears the changes other gateways on `store` make, until the returned function is called. */
export function listenToSameStore(store: object, listener: ChangeListener): () => void {
  let set = listeners.get(store);
  if (set === undefined) {
    set = new Set();
    listeners.set(store, set);
  }
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0 && listeners.get(store) === set) listeners.delete(store);
  };
}

/** Tells the other gateways on `store` of a change `from` made; settles once it applies in each. */
export async function tellSameStore(store: object, kind: ChangeKind, from: ChangeListener): Promise<void> {
  const set = listeners.get(store);
  if (set === undefined || (set.size === 1 && set.has(from))) return;
  await Promise.all([...set].filter((listener) => listener !== from).map((listener) => listener(kind)));
}
