let lastMilliseconds = Number.NaN;
let lastText = '';

/**
 * `new Date(milliseconds).toISOString()`, remembered for the last millisecond asked: a busy
 * gateway stamps several records and events within the same millisecond.
 */
export function isoTimestamp(milliseconds: number): string {
  if (milliseconds !== lastMilliseconds) {
    lastText = new Date(milliseconds).toISOString();
    lastMilliseconds = milliseconds;
  }
  return lastText;
}
