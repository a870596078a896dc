import { parseAgentKey } from '../auth/agent-keys.js';
import { isJoseHeader, isPlausibleSsn, isValidIpv6, passesIbanChecksum, passesLuhn } from './checksums.js';
import { URL_PASSWORD_LIMIT, URL_USER_LIMIT, URL_USER_SOURCE } from './inline-credentials.js';
import { type ScanFinding, ScanFeature, type ScanRule } from './text-scanner.js';
import type { DetectorName } from './types.js';

/**
 * Layer 4: content detectors. Patterns are written from the public formats (ISO/IEC 7812 card
 * numbers, ISO 13616 IBAN, SSA SSN rules, RFC 7519 JWT, RFC 7468 PEM, the vendors' documented
 * key prefixes); each runs a cheap pattern first and a checksum or decoding check after.
 */

/** Every detector, in scan order (on a tie at one offset, the earlier one wins). */
export const detectorNames: readonly DetectorName[] = Object.freeze([
  'pem_private_key',
  'jwt',
  'aws_access_key',
  'github_token',
  'slack_token',
  'stripe_live_key',
  'anthropic_key',
  'openai_key',
  'google_api_key',
  'agent_key',
  'email',
  'iban',
  'card',
  'ssn',
  'ipv6',
  'ipv4',
  'phone',
] as const);

/** Detectors that are off unless a configuration or profile turns them on. */
export const optInDetectors: ReadonlySet<DetectorName> = new Set<DetectorName>(['ipv4', 'ipv6']);

/** True when `value` names a detector. */
export function isDetectorName(value: unknown): value is DetectorName {
  return typeof value === 'string' && (detectorNames as readonly string[]).includes(value);
}

const NOT_AFTER_ALPHANUMERIC = '(?<![A-Za-z0-9])';
const NOT_AFTER_TOKEN = '(?<![A-Za-z0-9_-])';
const NOT_BEFORE_TOKEN = '(?![A-Za-z0-9_-])';
/**
 * Numbers (card, IBAN, SSN, phone) stand alone, so that the digits inside an identifier, a UUID,
 * a hex digest or base64 data are not read as one: no letter or digit touches them, no `-` or
 * `_` joins them to one, and no padding (`=`) follows. After them, a `+` or `/` leading on to
 * more base64 characters is allowed only when a `+` or `/` is also right before them (see
 * {@link standalone}): a path segment or a form value (`/cards/4111111111111111/verify`,
 * `/v2/PhoneNumbers/+14155552671`, `card+4111111111111111`), where inside base64 data a
 * candidate is followed by more data with something else before it.
 */
const STANDALONE_START = '(?<![A-Za-z0-9]|[A-Za-z0-9][_-])';
const STANDALONE_END = '(?![A-Za-z0-9=]|[_-][A-Za-z0-9_-])';

/**
 * A number's rule whose findings are refused when they run on into base64 data (see
 * STANDALONE_END): a `+` or `/` and more base64 after them, with no `+` or `/` right before
 * them, or `segment` saying the finding is not a path segment's or form value's number.
 */
function standalone(
  rule: ScanRule<DetectorName>,
  segment: (text: string, start: number, end: number) => boolean = () => true,
): ScanRule<DetectorName> {
  return {
    ...rule,
    accept(text, start, end) {
      const found = rule.accept(text, start, end);
      if (found === null || !runsOnAsBase64(text, found.end)) return found;
      const before = found.start > 0 ? text.charCodeAt(found.start - 1) : -1;
      return (before === 43 || before === 47) && segment(text, found.start, found.end) ? found : null;
    },
  };
}

/** True when `+` or `/` and a base64 character follow `end`. */
function runsOnAsBase64(text: string, end: number): boolean {
  const next = text.charCodeAt(end);
  return (next === 43 || next === 47) && isBase64Character(text.charCodeAt(end + 1));
}

const LOWER_CASE = /[a-z]/;

function isBase64Character(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 43 || code === 47;
}

const CONTAINS_DIGIT = /[0-9]/;
const NON_DIGITS = /[^0-9]/g;
const SEPARATORS = /[^0-9]+/g;

function whole(text: string, start: number, end: number): ScanFinding {
  return { start, end, canonical: text.slice(start, end) };
}

function hasDigitAndLetter(text: string, minimumDigits: number): boolean {
  let digits = 0;
  let letters = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 48 && code <= 57) digits++;
    else if ((code >= 65 && code <= 90) || (code >= 97 && code <= 122)) letters++;
  }
  return digits >= minimumDigits && letters > 0;
}

const LETTER_OR_DIGIT_AT = /[\p{L}\p{N}\p{M}]/uy;

/** How many UTF-16 units the e-mail local-part character ending at `end` takes (0: not one). */
function emailLocalCharacterBefore(text: string, end: number): number {
  const code = text.charCodeAt(end - 1);
  if (code < 0x80) {
    const isLocal =
      (code >= 97 && code <= 122) ||
      (code >= 65 && code <= 90) ||
      (code >= 48 && code <= 57) ||
      code === 46 || // .
      code === 95 || // _
      code === 37 || // %
      code === 43 || // +
      code === 45; // -
    return isLocal ? 1 : 0;
  }
  const width = code >= 0xdc00 && code <= 0xdfff && end >= 2 ? 2 : 1;
  LETTER_OR_DIGIT_AT.lastIndex = end - width;
  return LETTER_OR_DIGIT_AT.test(text) ? width : 0;
}

/** `://`, a user name and `:`, as the URL credential rule reads them before a password. */
const URL_BEFORE_PASSWORD = new RegExp(String.raw`:\/\/${URL_USER_SOURCE}:$`, 'u');
/** How far back from a password `://` can start: `://`, the longest user name, `:`. */
const URL_BEFORE_PASSWORD_LENGTH = URL_USER_LIMIT + 4;

/**
 * True when an e-mail-looking local part `[localStart, localEnd)` is in fact the password of
 * `scheme://user:password@host`, which the URL credential rule masks: exactly where that rule
 * finds one, so that one of the two always does. At most {@link URL_BEFORE_PASSWORD_LENGTH}
 * characters are read back, so a string of many such candidates costs linear time.
 */
function isUrlPassword(text: string, localStart: number, localEnd: number): boolean {
  if (text.charCodeAt(localStart - 1) !== 58 || localEnd - localStart > URL_PASSWORD_LIMIT) return false;
  return URL_BEFORE_PASSWORD.test(text.slice(Math.max(0, localStart - URL_BEFORE_PASSWORD_LENGTH), localStart));
}

/** PEM-armoured private keys (RFC 7468): any `-----BEGIN … PRIVATE KEY-----` block, also truncated ones. */
const pemPrivateKey: ScanRule<DetectorName> = {
  kind: 'pem_private_key',
  requires: ScanFeature.tokenPrefix,
  // Without an END line (a truncated excerpt), the base64 body, its line breaks (also escaped as
  // "\n") and RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") are taken. The END line is looked for
  // up to the next BEGIN line at most, so that many blocks that never end cost linear time.
  source: String.raw`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:(?:(?!-----BEGIN )[\s\S])*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?:[A-Za-z0-9+/=]|(?:\r?\n|\\r\\n|\\n)[ \t]*|[A-Za-z-]+: [^\r\n\\]*)*)`,
  accept: whole,
};

/** JWS/JWE compact serialisations (RFC 7515/7516) whose first segment decodes to a JOSE header. */
const jsonWebToken: ScanRule<DetectorName> = {
  kind: 'jwt',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_TOKEN}eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*(?:\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*)?${NOT_BEFORE_TOKEN}`,
  accept(text, start, end) {
    const headerEnd = text.indexOf('.', start);
    return isJoseHeader(text.slice(start, headerEnd)) ? whole(text, start, end) : null;
  },
};

/** AWS access key ids: long-term `AKIA`, temporary `ASIA`, plus `ABIA`/`ACCA` bearer and context keys. */
const awsAccessKey: ScanRule<DetectorName> = {
  kind: 'aws_access_key',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_ALPHANUMERIC}(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])`,
  accept: whole,
};

/** GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and fine-grained `github_pat_`. */
const githubToken: ScanRule<DetectorName> = {
  kind: 'github_token',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_ALPHANUMERIC}(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,242})(?![A-Za-z0-9_])`,
  accept: whole,
};

/** Slack tokens (`xoxb-`, `xoxp-`, `xoxa-`, `xoxo-`, `xoxs-`, `xoxr-`, `xoxe-`, `xapp-`) and incoming-webhook URLs. */
const slackToken: ScanRule<DetectorName> = {
  kind: 'slack_token',
  requires: ScanFeature.tokenPrefix,
  source: String.raw`(?<![A-Za-z0-9])(?:xox[abposre]-[A-Za-z0-9-]{10,250}|xoxe\.xox[bp]-[A-Za-z0-9-]{10,250}|xapp-[0-9]-[A-Za-z0-9-]{10,250}|https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_\/-]{16,300})`,
  accept(text, start, end) {
    return CONTAINS_DIGIT.test(text.slice(start, end)) ? whole(text, start, end) : null;
  },
};

/** Stripe live secret (`sk_live_`) and restricted (`rk_live_`) keys. Publishable keys are public and left alone. */
const stripeLiveKey: ScanRule<DetectorName> = {
  kind: 'stripe_live_key',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_ALPHANUMERIC}(?:sk|rk)_live_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])`,
  accept: whole,
};

/** Anthropic API and admin keys: `sk-ant-…`. */
const anthropicKey: ScanRule<DetectorName> = {
  kind: 'anthropic_key',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_ALPHANUMERIC}sk-ant-[A-Za-z0-9_-]{20,400}${NOT_BEFORE_TOKEN}`,
  accept(text, start, end) {
    return hasDigitAndLetter(text.slice(start + 7, end), 2) ? whole(text, start, end) : null;
  },
};

/** OpenAI keys: legacy `sk-…`, project `sk-proj-…`, service-account `sk-svcacct-…`, admin `sk-admin-…`. */
const openaiKey: ScanRule<DetectorName> = {
  kind: 'openai_key',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_ALPHANUMERIC}sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,400}${NOT_BEFORE_TOKEN}`,
  accept(text, start, end) {
    return hasDigitAndLetter(text.slice(start + 3, end), 2) ? whole(text, start, end) : null;
  },
};

/** Google API keys: `AIza` followed by 35 characters. */
const googleApiKey: ScanRule<DetectorName> = {
  kind: 'google_api_key',
  requires: ScanFeature.tokenPrefix,
  source: `${NOT_AFTER_TOKEN}AIza[0-9A-Za-z_-]{35}${NOT_BEFORE_TOKEN}`,
  accept: whole,
};

/**
 * This gateway's own agent keys, `atg_` + agent id + secret and checksum, confirmed by the
 * checksum (no secret needed): a key pasted into a tool's input or output, or a ticket's text.
 */
const agentKey: ScanRule<DetectorName> = {
  kind: 'agent_key',
  // Gated on the run's length rather than the token prefixes: the scan counts it anyway.
  requires: ScanFeature.agentKeyRun,
  source: `${NOT_AFTER_ALPHANUMERIC}atg_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}(?![A-Za-z0-9])`,
  accept(text, start, end) {
    return parseAgentKey(text.slice(start, end)) === undefined ? null : whole(text, start, end);
  },
};

/**
 * E-mail addresses. The pattern is anchored at `@` (rare in text, so the scan skips quickly) and the
 * local part is read backwards by the validator.
 */
const email: ScanRule<DetectorName> = {
  kind: 'email',
  requires: ScanFeature.at,
  source: String.raw`@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.){1,10}\p{L}{2,63}(?![\p{L}\p{N}-])`,
  accept(text, start, end) {
    let localStart = start;
    let width: number;
    while (localStart > 0 && (width = emailLocalCharacterBefore(text, localStart)) > 0) localStart -= width;
    while (localStart < start && text.charCodeAt(localStart) === 46) localStart++;
    if (localStart === start || isUrlPassword(text, localStart, start)) return null;
    return { start: localStart, end, canonical: text.slice(localStart, end).toLowerCase() };
  },
};

/**
 * IBAN (ISO 13616): country code, check digits and up to 30 characters, compact or in groups of
 * four; confirmed by length and the mod-97 check. A failing candidate is retried without its
 * trailing groups, so that text after an IBAN cannot hide it.
 */
const iban: ScanRule<DetectorName> = {
  kind: 'iban',
  requires: ScanFeature.ibanStart,
  source: `${STANDALONE_START}[A-Z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)${STANDALONE_END}`,
  accept(text, start, end) {
    let candidateEnd = end;
    while (candidateEnd > start) {
      const compact = text.slice(start, candidateEnd).replaceAll(' ', '').toUpperCase();
      if (compact.length < 15) return null;
      if (passesIbanChecksum(compact)) return { start, end: candidateEnd, canonical: compact };
      const lastSpace = text.lastIndexOf(' ', candidateEnd - 1);
      if (lastSpace <= start) return null;
      candidateEnd = lastSpace;
    }
    return null;
  },
};

/**
 * Payment card numbers: 13–19 digits starting 2–6 (the ISO/IEC 7812 banking and financial
 * ranges), optionally grouped by spaces or hyphens, confirmed by the Luhn check. When the whole
 * run fails, shorter runs ending at a group boundary are tried (so `4111 1111 1111 1111 12/27`
 * still finds the card).
 */
const card: ScanRule<DetectorName> = {
  kind: 'card',
  requires: ScanFeature.digits13,
  source: `${STANDALONE_START}[2-6][0-9](?:[ -]?[0-9]){11,17}${STANDALONE_END}`,
  accept(text, start, end) {
    const digitEnds: number[] = [];
    for (let index = start; index < end; index++) {
      const code = text.charCodeAt(index);
      if (code >= 48 && code <= 57) digitEnds.push(index + 1);
    }
    const digits = text.slice(start, end).replace(NON_DIGITS, '');
    for (let count = digits.length; count >= 13; count--) {
      const candidateEnd = digitEnds[count - 1] as number;
      const nextCode = text.charCodeAt(candidateEnd);
      if (candidateEnd !== end && nextCode >= 48 && nextCode <= 57) continue;
      const prefix = digits.slice(0, count);
      if (passesLuhn(prefix)) return { start, end: candidateEnd, canonical: prefix };
    }
    return null;
  },
};

/** US Social Security Numbers written `123-45-6789` or `123 45 6789`, with the SSA's never-issued ranges refused. */
const ssn: ScanRule<DetectorName> = {
  kind: 'ssn',
  requires: ScanFeature.digits9,
  source: `${STANDALONE_START}(?<!-)(?:[0-9]{3}-[0-9]{2}-[0-9]{4}(?!-)|[0-9]{3} [0-9]{2} [0-9]{4})${STANDALONE_END}`,
  accept(text, start, end) {
    const digits = text.slice(start, end).replace(NON_DIGITS, '');
    return isPlausibleSsn(digits) ? { start, end, canonical: digits } : null;
  },
};

/** IPv6 addresses (RFC 4291 text forms, compressed, with an IPv4 tail or a zone), confirmed by a full parse. */
const ipv6: ScanRule<DetectorName> = {
  kind: 'ipv6',
  requires: ScanFeature.twoColons,
  source: String.raw`(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)(?:(?<=[0-9])(?:\.[0-9]{1,3}){3})?(?:%[0-9A-Za-z._~-]+)?(?![0-9A-Za-z:])`,
  accept(text, start, end) {
    const candidate = text.slice(start, end);
    return isValidIpv6(candidate) ? { start, end, canonical: candidate.toLowerCase() } : null;
  },
};

/** Dotted-quad IPv4 addresses with every octet 0–255. */
const ipv4: ScanRule<DetectorName> = {
  kind: 'ipv4',
  requires: ScanFeature.digits4,
  source: String.raw`(?<![0-9A-Za-z.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?![0-9]|\.[0-9])`,
  accept: whole,
};

/**
 * Telephone numbers in three written forms: international (`+` and 8–15 digits, E.164), North
 * American (`(415) 555-2671`, `415-555-2671`), and national trunk-prefixed (`030 1234 5678`,
 * `06 12 34 56 78`, one separator kind, 9–12 digits). Bare digit runs are not phones.
 */
const phone: ScanRule<DetectorName> = {
  kind: 'phone',
  // An accepted number has 8 digits or more (international), 9 (national) or 10 (North American).
  requires: ScanFeature.digits8,
  source: String.raw`${STANDALONE_START}(?<!\+)(?:\+[1-9](?:[ .()-]{0,2}[0-9]){6,14}|(?:1[ .-]?)?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}|0[1-9][0-9]{0,3}(?:[ .\/-][0-9]{2,4}){2,4})${STANDALONE_END}`,
  accept(text, start, end) {
    const written = text.slice(start, end);
    const digits = written.replace(NON_DIGITS, '');
    const first = written.charCodeAt(0);
    if (first === 43) {
      // "+": international
      return digits.length >= 8 && digits.length <= 15 ? { start, end, canonical: `+${digits}` } : null;
    }
    if (first === 48) {
      // "0": national trunk prefix
      const separators = new Set(written.match(SEPARATORS) ?? []);
      return digits.length >= 9 && digits.length <= 12 && separators.size === 1 ? { start, end, canonical: digits } : null;
    }
    return { start, end, canonical: digits };
  },
};

const rulesByName: Readonly<Record<DetectorName, ScanRule<DetectorName>>> = {
  pem_private_key: pemPrivateKey,
  jwt: jsonWebToken,
  aws_access_key: awsAccessKey,
  github_token: githubToken,
  slack_token: slackToken,
  stripe_live_key: stripeLiveKey,
  anthropic_key: anthropicKey,
  openai_key: openaiKey,
  google_api_key: googleApiKey,
  agent_key: agentKey,
  email,
  // An IBAN is letters and digits like base64 around it, but upper case: between two slashes,
  // one with a lower-case letter is taken for base64 data.
  iban: standalone(iban, (text, start, end) => !LOWER_CASE.test(text.slice(start, end))),
  card: standalone(card),
  ssn: standalone(ssn),
  ipv6,
  ipv4,
  phone: standalone(phone),
};

/** The scan rule of a detector. */
export function detectorRule(name: DetectorName): ScanRule<DetectorName> {
  return rulesByName[name];
}
