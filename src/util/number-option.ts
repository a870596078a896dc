/**
 * An option that must be a number from `min` to `max` (an integer when `integer`): `value`,
 * or `fallback` when it is undefined. Anything else (`NaN`, `Infinity` past `max`, a string,
 * a fraction where an integer belongs) throws a `TypeError` naming `owner` and the option,
 * when the thing configured is created rather than when it first runs.
 */
export function numberOption(
  owner: string,
  name: string,
  value: number | undefined,
  fallback: number,
  range: { min: number; max?: number; integer: boolean },
): number {
  if (value === undefined) return fallback;
  const { min, max = Number.POSITIVE_INFINITY, integer } = range;
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    const bounds = max === Number.POSITIVE_INFINITY ? `${min} or more` : `from ${min} to ${max}`;
    throw new TypeError(`${owner}: ${name} must be ${integer ? 'an integer' : 'a number'} ${bounds}`);
  }
  return value;
}
