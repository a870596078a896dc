let lastMilliseconds = Number.NaN;
let lastText = '';
let secondStart = Number.NaN;
/** `YYYY-MM-DDTHH:MM:SS.` of the second that starts at `secondStart`. */
let secondPrefix = '';

/** The last millisecond of year 9999: past it, ISO strings take six-digit years. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

/**
 * `new Date(milliseconds).toISOString()`, faster: the last answer is remembered (a busy gateway
 * stamps several records and events within one millisecond), and within a second only the
 * milliseconds are written, after the second's formatted prefix.
 */
export function isoTimestamp(milliseconds: number): string {
  if (milliseconds === lastMilliseconds) return lastText;
  if (!Number.isInteger(milliseconds) || milliseconds < 0 || milliseconds > LAST_FOUR_DIGIT_YEAR_MS) {
    return new Date(milliseconds).toISOString();
  }
  const fraction = milliseconds % 1000;
  const second = milliseconds - fraction;
  if (second !== secondStart) {
    secondPrefix = new Date(second).toISOString().slice(0, 20);
    secondStart = second;
  }
  lastText = `${secondPrefix}${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}Z`;
  lastMilliseconds = milliseconds;
  return lastText;
}
