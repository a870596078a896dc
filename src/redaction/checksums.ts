/**
 * Validators that keep detector false positives down. Each runs only after a cheap pattern
 * match, on a short candidate.
 */

/** Luhn (mod 10) check over a string of ASCII digits. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index--) {
    let digit = digits.charCodeAt(index) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * ISO 13616 IBAN check: length 15–34, two-letter country, check digits 02–98, and the
 * rearranged number modulo 97 equals 1. Takes the compact upper-case form.
 */
export function passesIbanChecksum(compact: string): boolean {
  if (compact.length < 15 || compact.length > 34) return false;
  const checkDigits = Number(compact.slice(2, 4));
  if (!(checkDigits >= 2 && checkDigits <= 98)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (let index = 0; index < rearranged.length; index++) {
    const code = rearranged.charCodeAt(index);
    if (code >= 48 && code <= 57) {
      remainder = (remainder * 10 + (code - 48)) % 97;
    } else if (code >= 65 && code <= 90) {
      remainder = (remainder * 100 + (code - 55)) % 97;
    } else {
      return false;
    }
  }
  return remainder === 1;
}

/**
 * US Social Security Number rules: area 001–899 except 666, group 01–99, serial 0001–9999.
 * Takes the nine digits.
 */
export function isPlausibleSsn(digits: string): boolean {
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5, 9));
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/** True when a base64url segment decodes to a JOSE header: a JSON object with a string `alg` or `enc`. */
export function isJoseHeader(segment: string): boolean {
  if (segment.length > 4096) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return false;
    const record = header as Record<string, unknown>;
    return typeof record.alg === 'string' || typeof record.enc === 'string';
  } catch {
    return false;
  }
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const IPV4_TAIL = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;

/**
 * RFC 4291 textual IPv6 address (with `::` compression, an optional embedded IPv4 tail and an
 * optional zone). The unspecified address `::` alone is refused: it identifies nobody and is
 * common punctuation in code.
 */
export function isValidIpv6(candidate: string): boolean {
  const zoneAt = candidate.indexOf('%');
  const address = zoneAt === -1 ? candidate : candidate.slice(0, zoneAt);
  if (address === '::') return false;
  const halves = address.split('::');
  if (halves.length > 2) return false;
  let groups = 0;
  for (let halfIndex = 0; halfIndex < halves.length; halfIndex++) {
    const half = halves[halfIndex] as string;
    if (half === '') continue;
    const parts = half.split(':');
    for (let partIndex = 0; partIndex < parts.length; partIndex++) {
      const part = parts[partIndex] as string;
      const isLast = halfIndex === halves.length - 1 && partIndex === parts.length - 1;
      if (isLast && part.includes('.')) {
        if (!IPV4_TAIL.test(part)) return false;
        groups += 2;
      } else if (HEX_GROUP.test(part)) {
        groups += 1;
      } else {
        return false;
      }
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}
