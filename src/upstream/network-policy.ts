import ipaddr from 'ipaddr.js';

type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [IpAddress, number];

/** Which non-public networks an upstream may be reached in: `true` (all but cloud metadata) or CIDRs. */
export type PrivateNetworkAllowance = boolean | readonly string[];

/** Where an address belongs, for the SSRF guard. */
export type AddressClass = 'public' | 'private' | 'metadata';

/** A compiled decision about which IP addresses may be connected to. */
export interface NetworkPolicy {
  /** Stable text naming the policy: pools are shared only between equal policies. */
  readonly key: string;
  /** True when a connection to this IP address (any spelling ipaddr.js parses) is allowed. */
  allows(address: string): boolean;
}

// Cloud instance metadata and platform endpoints. They stay refused under
// `allowPrivateNetwork: true`; only a CIDR list that names them explicitly opens them.
const METADATA_ADDRESSES: ReadonlySet<string> = new Set(
  [
    '169.254.169.254', // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack instance metadata
    '169.254.169.253', // AWS VPC DNS
    '169.254.169.123', // AWS time sync
    '169.254.170.2', // AWS ECS task metadata
    '169.254.170.23', // AWS EKS pod identity
    '169.254.0.23', // Tencent Cloud metadata
    '100.100.100.200', // Alibaba Cloud metadata
    '168.63.129.16', // Azure WireServer
    '192.0.0.192', // Oracle Cloud Classic metadata
    'fd00:ec2::254', // AWS IPv6 instance metadata
    'fd00:ec2::253', // AWS IPv6 VPC DNS
    'fd00:ec2::123', // AWS IPv6 time sync
    'fd00:ec2::23', // AWS IPv6 EKS pod identity
  ].map((text) => ipaddr.parse(text).toNormalizedString()),
);

const NAT64_WELL_KNOWN: Cidr = ipaddr.parseCIDR('64:ff9b::/96');
const NAT64_LOCAL_USE: Cidr = ipaddr.parseCIDR('64:ff9b:1::/48');
const IPV4_COMPATIBLE: Cidr = ipaddr.parseCIDR('::/96');

function embeddedIPv4(parts: readonly number[], high: number): ipaddr.IPv4 {
  const upper = parts[high] as number;
  const lower = parts[high + 1] as number;
  return new ipaddr.IPv4([upper >> 8, upper & 0xff, lower >> 8, lower & 0xff]);
}

/** Where the RFC 6052 layouts that fit in a /48 put the IPv4 address's bytes: /48, /56, /64, /96. */
const LOCAL_USE_LAYOUTS: ReadonlyArray<readonly number[]> = [
  [6, 7, 9, 10],
  [7, 9, 10, 11],
  [9, 10, 11, 12],
  [12, 13, 14, 15],
];

/**
 * The IPv4 addresses an address in the NAT64 local-use prefix `64:ff9b:1::/48` (RFC 8215) may
 * carry, distinct ones only. The operator picks the translator's prefix inside it, /48 to /96,
 * and that length is not known here: the address is read in every layout RFC 6052 gives those
 * lengths. For the common /96 prefix the last 32 bits are the address.
 */
function localUseIPv4s(address: ipaddr.IPv6): ipaddr.IPv4[] {
  const bytes = address.toByteArray();
  const readings: ipaddr.IPv4[] = [];
  const seen = new Set<string>();
  for (const layout of LOCAL_USE_LAYOUTS) {
    const reading = new ipaddr.IPv4(layout.map((index) => bytes[index] as number));
    const text = reading.toString();
    if (seen.has(text)) continue;
    seen.add(text);
    readings.push(reading);
  }
  return readings;
}

/**
 * The IPv4 address an IPv6 address carries and routes to, when it carries one: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 well-known prefix
 * (`64:ff9b::a.b.c.d`), NAT64 local-use prefix (`64:ff9b:1::/48`) when all its readings
 * ({@link localUseIPv4s}) agree, and 6to4 (`2002:aabb:ccdd::`).
 */
function unwrapIPv4(address: IpAddress): IpAddress {
  if (address.kind() === 'ipv4') return address;
  const ipv6 = address as ipaddr.IPv6;
  const range = ipv6.range();
  if (range === 'ipv4Mapped') return ipv6.toIPv4Address();
  if (range === 'rfc6145') return embeddedIPv4(ipv6.parts, 6);
  if (range === 'rfc6052' && ipv6.match(NAT64_WELL_KNOWN)) return embeddedIPv4(ipv6.parts, 6);
  if (range === 'rfc6052' && ipv6.match(NAT64_LOCAL_USE)) {
    const readings = localUseIPv4s(ipv6);
    return readings.length === 1 ? (readings[0] as ipaddr.IPv4) : ipv6;
  }
  if (range === '6to4') return embeddedIPv4(ipv6.parts, 1);
  return ipv6;
}

function classifyUnwrapped(effective: IpAddress): AddressClass {
  if (METADATA_ADDRESSES.has(effective.toNormalizedString())) return 'metadata';
  if (effective.kind() === 'ipv6' && (effective as ipaddr.IPv6).match(IPV4_COMPATIBLE)) {
    // ipaddr.js reads `::a.b.c.d` as IPv4-mapped, but `::a9fe:a9fe` (as WHATWG URL writes it) as
    // IPv4-compatible: both spellings of a metadata address are refused alike.
    const embedded = embeddedIPv4((effective as ipaddr.IPv6).parts, 6);
    return METADATA_ADDRESSES.has(embedded.toNormalizedString()) ? 'metadata' : 'private';
  }
  return effective.range() === 'unicast' ? 'public' : 'private';
}

/**
 * An address in the NAT64 local-use prefix is judged by every IPv4 address it may carry: cloud
 * metadata if any of them is one (refused even under `allowPrivateNetwork: true`), public only
 * if all of them are.
 */
function classifyLocalUse(address: ipaddr.IPv6): AddressClass {
  let addressClass: AddressClass = 'public';
  for (const reading of localUseIPv4s(address)) {
    const readingClass = classifyUnwrapped(reading);
    if (readingClass === 'metadata') return 'metadata';
    if (readingClass === 'private') addressClass = 'private';
  }
  return addressClass;
}

function classifyParsed(parsed: IpAddress): AddressClass {
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).match(NAT64_LOCAL_USE)) return classifyLocalUse(parsed as ipaddr.IPv6);
  return classifyUnwrapped(unwrapIPv4(parsed));
}

function parseAddress(address: string): IpAddress | undefined {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(text)) return undefined;
  try {
    return ipaddr.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Classifies an IP address. `public` is only global unicast; loopback, private (RFC 1918),
 * link-local, CGNAT, unique-local, multicast, unspecified, broadcast, reserved, documentation,
 * benchmarking, Teredo, IPv4-compatible and other special ranges are `private`; cloud metadata
 * endpoints are `metadata`. IPv6 forms that embed an IPv4 address are judged by that address.
 * Unparseable input is `private`.
 *
 * @example
 * ```ts
 * import { classifyAddress } from './upstream/network-policy.js';
 *
 * classifyAddress('::ffff:127.0.0.1'); // 'private'
 * classifyAddress('169.254.169.254'); // 'metadata'
 * classifyAddress('93.184.215.14'); // 'public'
 * ```
 */
export function classifyAddress(address: string): AddressClass {
  const parsed = parseAddress(address);
  return parsed === undefined ? 'private' : classifyParsed(parsed);
}

/**
 * Validates a list of CIDRs (or single addresses) for `allowPrivateNetwork`; throws a
 * TypeError naming the bad entry.
 */
export function parseAllowance(allowance: unknown, where: string): PrivateNetworkAllowance | undefined {
  if (allowance === undefined || typeof allowance === 'boolean') return allowance;
  if (!Array.isArray(allowance)) {
    throw new TypeError(`${where}: allowPrivateNetwork must be true, false or a list of CIDRs`);
  }
  for (const entry of allowance) parseCidr(entry, where);
  return allowance as readonly string[];
}

function parseCidr(entry: unknown, where: string): Cidr {
  if (typeof entry === 'string') {
    if (ipaddr.isValidCIDR(entry)) return ipaddr.parseCIDR(entry);
    const single = parseAddress(entry);
    if (
      single !== undefined &&
      /^[0-9a-fA-F:.[\]]+$/.test(entry) &&
      (single.kind() === 'ipv6' || ipaddr.IPv4.isValidFourPartDecimal(entry))
    ) {
      return [single, single.kind() === 'ipv4' ? 32 : 128];
    }
  }
  throw new TypeError(`${where}: allowPrivateNetwork entry ${JSON.stringify(entry)} is not a CIDR (like "10.0.0.0/8" or "fd00::/8")`);
}

/**
 * Compiles the SSRF decision from the allowances that apply (the tool's own and the
 * gateway-wide one; either may widen it). Without any: only public addresses. With `true`:
 * every address except cloud metadata endpoints. With CIDRs: public addresses plus exactly
 * those ranges, but for the metadata endpoints in them: one of those opens only for an entry
 * of that one address (`169.254.169.254/32`, `fd00:ec2::254`), named on purpose.
 *
 * @example
 * ```ts
 * import { compileNetworkPolicy } from './upstream/network-policy.js';
 *
 * const policy = compileNetworkPolicy(['10.20.0.0/16'], undefined);
 * policy.allows('10.20.1.2'); // true
 * policy.allows('127.0.0.1'); // false
 * ```
 */
export function compileNetworkPolicy(...allowances: Array<PrivateNetworkAllowance | undefined>): NetworkPolicy {
  const allowPrivate = allowances.some((allowance) => allowance === true);
  const ranges: Cidr[] = [];
  const names = new Set<string>();
  for (const allowance of allowances) {
    if (!Array.isArray(allowance)) continue;
    for (const entry of allowance) {
      const cidr = parseCidr(entry, 'allowPrivateNetwork');
      const name = `${cidr[0].toNormalizedString()}/${cidr[1]}`;
      if (!names.has(name)) {
        names.add(name);
        ranges.push(cidr);
      }
    }
  }
  const key = `${allowPrivate ? 'private' : 'public'}${names.size > 0 ? `+${[...names].sort().join(',')}` : ''}`;

  // A metadata endpoint opens only for an entry of that one address: a range that merely
  // holds one (fd00::/8 holds AWS's fd00:ec2::254, 100.64.0.0/10 Alibaba's 100.100.100.200)
  // is allowed for the private services in it, not for the instance's credentials.
  const singleAddresses = ranges.filter(([network, bits]) => bits === (network.kind() === 'ipv4' ? 32 : 128));

  function inRanges(address: IpAddress, within: readonly Cidr[]): boolean {
    const kind = address.kind();
    for (const [network, bits] of within) {
      if (network.kind() === kind && address.match(network, bits)) return true;
    }
    return false;
  }

  return Object.freeze({
    key,
    allows(address: string): boolean {
      const parsed = parseAddress(address);
      if (parsed === undefined) return false;
      const addressClass = classifyParsed(parsed);
      if (addressClass === 'public') return true;
      const named = addressClass === 'metadata' ? singleAddresses : ranges;
      if (named.length > 0 && (inRanges(unwrapIPv4(parsed), named) || inRanges(parsed, named))) return true;
      return addressClass === 'private' && allowPrivate;
    },
  });
}
