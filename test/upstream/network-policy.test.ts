import { describe, expect, it } from 'vitest';
import { classifyAddress, compileNetworkPolicy, parseAllowance } from '../../src/upstream/network-policy.js';

describe('classifyAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.1.1',
    '100.64.0.1',
    '100.127.255.254',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '240.0.0.1',
    '192.0.2.10',
    '198.18.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:0:127.0.0.1',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '64:ff9b::a00:1',
    '64:ff9b:1::1',
    '64:ff9b:1::7f00:1',
    '64:ff9b:1::a00:1',
    // Public in the /96 reading, but 0.0.0.0 in the /48 one.
    '64:ff9b:1::808:808',
    '2002:7f00:1::',
    '2002:c0a8:101::1',
    '2001::1',
    '2001:db8::1',
    '2130706433',
    '0x7f.1',
    '0177.0.0.1',
    'not-an-address',
  ])('%s is not public', (address) => {
    expect(classifyAddress(address)).not.toBe('public');
  });

  it.each([
    '169.254.169.254',
    '100.100.100.200',
    'fd00:ec2::254',
    '168.63.129.16',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    // NAT64 local-use prefix (RFC 8215), in the RFC 6052 layouts a /96, /64, /56 or /48 prefix gives it.
    '64:ff9b:1::a9fe:a9fe',
    '64:ff9b:1::169.254.169.254',
    '64:ff9b:1:ffff:ffff:ffff:a9fe:a9fe',
    '64:ff9b:1:0:a9:fea9:fe00:0',
    '64:ff9b:1:a9:fe:a9fe::',
    '64:ff9b:1:a9fe:a9:fe00::',
  ])('%s is cloud metadata', (address) => {
    expect(classifyAddress(address)).toBe('metadata');
  });

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBe('public');
    },
  );
});

describe('compileNetworkPolicy', () => {
  it('allows only public addresses by default', () => {
    const policy = compileNetworkPolicy(undefined, undefined);
    expect(policy.allows('8.8.8.8')).toBe(true);
    expect(policy.allows('127.0.0.1')).toBe(false);
    expect(policy.allows('::ffff:127.0.0.1')).toBe(false);
    expect(policy.allows('garbage')).toBe(false);
    expect(policy.key).toBe('public');
  });

  it('true allows private networks but still refuses cloud metadata', () => {
    const policy = compileNetworkPolicy(true);
    expect(policy.allows('127.0.0.1')).toBe(true);
    expect(policy.allows('10.0.0.7')).toBe(true);
    expect(policy.allows('169.254.169.254')).toBe(false);
    expect(policy.allows('fd00:ec2::254')).toBe(false);
  });

  it('true refuses cloud metadata in the IPv4-compatible form however it is spelt, as WHATWG URL and Node print it', () => {
    const policy = compileNetworkPolicy(true);
    // new URL('http://[::169.254.169.254]/').hostname is '[::a9fe:a9fe]'; Node's remoteAddress is '::169.254.169.254'.
    for (const spelling of ['::169.254.169.254', '::a9fe:a9fe', '0:0:0:0:0:0:a9fe:a9fe', '[::a9fe:a9fe]', '::a9fe:aa02']) {
      expect(classifyAddress(spelling)).toBe('metadata');
      expect(policy.allows(spelling)).toBe(false);
    }
    expect(policy.allows('::a00:7')).toBe(true);
  });

  it('CIDRs from the tool and the gateway add exactly their ranges', () => {
    const policy = compileNetworkPolicy(['10.20.0.0/16'], ['fd00::/8', '127.0.0.1']);
    expect(policy.allows('10.20.3.4')).toBe(true);
    expect(policy.allows('::ffff:10.20.3.4')).toBe(true);
    expect(policy.allows('10.21.0.1')).toBe(false);
    expect(policy.allows('fd00::5')).toBe(true);
    expect(policy.allows('127.0.0.1')).toBe(true);
    expect(policy.allows('127.0.0.2')).toBe(false);
    expect(policy.allows('8.8.8.8')).toBe(true);
    expect(policy.key).toBe(compileNetworkPolicy(['fd00::/8', '127.0.0.1/32'], ['10.20.0.0/16']).key);
  });

  it('true still refuses cloud metadata behind the NAT64 local-use prefix, as behind the well-known one', () => {
    const policy = compileNetworkPolicy(true);
    expect(policy.allows('64:ff9b::a9fe:a9fe')).toBe(false);
    expect(policy.allows('64:ff9b:1::a9fe:a9fe')).toBe(false);
    expect(policy.allows('64:ff9b:1:a9fe:a9:fe00::')).toBe(false);
    expect(policy.allows('64:ff9b:1::a00:1')).toBe(true);
    expect(policy.allows('64:ff9b:1::808:808')).toBe(true);
  });

  it('an IPv4 CIDR opens a NAT64 local-use address only when all its readings agree; an IPv6 CIDR names it outright', () => {
    // Read as /96 this is 10.20.3.4, read as /48 it is 0.0.0.0.
    expect(compileNetworkPolicy(['10.20.0.0/16']).allows('64:ff9b:1::a14:304')).toBe(false);
    expect(compileNetworkPolicy(['0.0.0.0/8']).allows('64:ff9b:1::')).toBe(true);
    expect(compileNetworkPolicy(['64:ff9b:1::/96']).allows('64:ff9b:1::a14:304')).toBe(true);
  });

  it('a CIDR can name a metadata address on purpose', () => {
    expect(compileNetworkPolicy(['169.254.169.254/32']).allows('169.254.169.254')).toBe(true);
    expect(compileNetworkPolicy(['169.254.169.254']).allows('::ffff:169.254.169.254')).toBe(true);
    expect(compileNetworkPolicy(['fd00:ec2::254/128']).allows('fd00:ec2::254')).toBe(true);
    expect(compileNetworkPolicy(['fd00:ec2::254']).allows('fd00:ec2::253')).toBe(false);
  });

  it('a wider range that happens to hold a metadata address does not open it', () => {
    for (const [range, inside, metadata] of [
      ['fd00::/8', 'fd00::5', 'fd00:ec2::254'],
      ['169.254.0.0/16', '169.254.10.1', '169.254.169.254'],
      ['100.64.0.0/10', '100.100.1.1', '100.100.100.200'],
      ['168.63.0.0/16', '168.63.1.1', '168.63.129.16'],
      ['64:ff9b::/96', '64:ff9b::a00:1', '64:ff9b::a9fe:a9fe'],
      ['0.0.0.0/0', '10.0.0.1', '169.254.170.2'],
      ['::/0', 'fc00::1', '::ffff:169.254.169.254'],
    ] as const) {
      const policy = compileNetworkPolicy([range]);
      expect(policy.allows(inside), `${inside} in ${range}`).toBe(true);
      expect(policy.allows(metadata), `${metadata} in ${range}`).toBe(false);
    }
  });

  it('either allowance can widen: the gateway-wide true wins over a tool list', () => {
    const policy = compileNetworkPolicy(['10.0.0.0/8'], true);
    expect(policy.allows('192.168.0.1')).toBe(true);
  });

  it('validates allowances naming the bad entry', () => {
    expect(() => parseAllowance(['10.0.0.0/33'], 'tool "t"')).toThrow(/"10.0.0.0\/33"/);
    expect(() => parseAllowance(['2130706433'], 'tool "t"')).toThrow(TypeError);
    expect(() => parseAllowance('10.0.0.0/8', 'tool "t"')).toThrow(TypeError);
    expect(parseAllowance(['10.0.0.0/8', '::1'], 'tool "t"')).toEqual(['10.0.0.0/8', '::1']);
  });
});
