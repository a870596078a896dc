/**
 * Wraps a task that reads some state and applies it (a reload of the store's tools, say) so
 * that runs never overlap. A call while a run is under way gets the next run, which starts
 * when the current one has ended and so reads the state as it is after the call; calls
 * meanwhile share that next run. Overlapping runs could finish out of order, and an older
 * read applied last would undo a newer one.
 */
export function latestRun(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const run = task().finally(() => {
      if (running === run) running = undefined;
    });
    running = run;
    return run;
  };
  return () => {
    // Between the end of a run and the start of the next one queued, that next one is the answer.
    if (next !== undefined) return next;
    if (running === undefined) return start();
    next = running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return start();
      });
    return next;
  };
}
