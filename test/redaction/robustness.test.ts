import { afterEach, describe, expect, it } from 'vitest';
import { CIRCULAR, createRedactor, redact, redactText } from '../../src/redaction/index.js';

const secret = 'Upstream-S3cret/Key+42';
const redactor = createRedactor();
const compiled = redactor.compile({ secrets: [secret] });

describe('look-alike and invisible-character bypasses', () => {
  it.each([
    ['fullwidth digits in a card number', '４１１１ １１１１ １１１１ １１１１'],
    ['no-break spaces in a card number', '4111\u00a01111\u00a01111\u00a01111'],
    ['a fullwidth e-mail address', 'ａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
    ['a zero-width joiner inside an e-mail address', 'ada\u200d@exam\u200bple.com'],
    ['a soft hyphen inside an e-mail address', 'ada@exam\u00adple.com'],
    ['a decomposed accent in an e-mail address', 'jose\u0301@example.com'],
    ['a word joiner inside an SSN', '123-45\u2060-6789'],
    ['a zero-width space inside an AWS key', 'AKIA\u200bIOSFODNN7EXAMPLE'],
    ['bidi controls around a phone number', '\u202e+1 415 555 2671\u202c'],
    ['a zero-width space inside a secret', 'Upstream-S3\u200bcret/Key+42'],
    ['fullwidth characters in a secret', 'Ｕｐｓｔｒｅａｍ-S3cret/Key+42'],
  ])('catches %s', (_, hidden) => {
    // Invisible characters just outside a finding may stay; nothing visible of the finding does.
    const output = compiled.text(`value: ${hidden}.`).replace(/[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064]/g, '');
    expect(output).toBe('value: ***.');
  });

  it.each([
    'ＰＡＳＳＷＯＲＤ',
    'pass\u200bword',
    'pass\u00adword',
    'api\u200d_key',
    'ａｐｉＫｅｙ',
    'раssword', // Cyrillic р and а
    'ΑPI_KEY', // Greek capital alpha
    'Pass\ufe0fword',
  ])('masks the value of the disguised key %s', (key) => {
    expect(compiled.value({ [key]: 'value-123' })).toEqual({ [key]: '***' });
  });

  it('catches fullwidth separators in key=value text', () => {
    expect(compiled.text('user=ada password＝hunter2 ok')).toBe('user=ada password＝*** ok');
    expect(compiled.text('{"password"："hunter2"}')).toBe('{"password"："***"}');
  });

  it('leaves unredacted text exactly as it was', () => {
    const text = 'ｆｕｌｌ ﬁle 日本語 e\u0301 👩‍👩‍👧 ada@example.com ok';
    expect(compiled.text(text)).toBe('ｆｕｌｌ ﬁle 日本語 e\u0301 👩‍👩‍👧 *** ok');
  });
});

describe('Unicode hyphens, dashes and spaces as separators', () => {
  const dashes = [
    ['U+2010 hyphen', '\u2010'],
    ['U+2011 non-breaking hyphen', '\u2011'],
    ['U+2012 figure dash', '\u2012'],
    ['U+2013 en dash', '\u2013'],
    ['U+2043 hyphen bullet', '\u2043'],
    ['U+2212 minus sign', '\u2212'],
    ['U+FE63 small hyphen-minus', '\ufe63'],
    ['U+FF0D fullwidth hyphen-minus', '\uff0d'],
  ];
  const spaces = [
    ['U+00A0 no-break space', '\u00a0'],
    ['U+2007 figure space', '\u2007'],
    ['U+202F narrow no-break space', '\u202f'],
  ];
  const numbers = (separator: string) => [
    `4111${separator}1111${separator}1111${separator}1111`,
    `+1${separator}415${separator}555${separator}2671`,
    `415${separator}555${separator}2671`,
    `030${separator}1234${separator}5678`,
    `123${separator}45${separator}6789`,
  ];

  describe.each([...dashes, ...spaces])('%s', (_, separator) => {
    it.each(numbers(separator))('masks %s as a value, under a key, and in text', (written) => {
      expect(redact(written)).toBe('***');
      expect(redact({ card: written, tel: written, note: [written] })).toEqual({ card: '***', tel: '***', note: ['***'] });
      expect(redactText(`number ${written}, ok`)).toBe('number ***, ok');
      expect(redactText(`(${written})`)).toBe('(***)');
    });
  });

  it('replaces the original characters, separators included, and nothing around them', () => {
    expect(redactText('card 4111\u20111111\u20111111\u20111111 \u2013 exp 12/27')).toBe('card *** \u2013 exp 12/27');
    expect(redactText('ssn\u00a0123\u201045\u20106789\u2014call +44\u201320\u20137946\u20130958')).toBe('ssn\u00a0***\u2014call ***');
  });

  it('keeps the canonical value for partial and hash', () => {
    const hashing = createRedactor({ hashKey: 'k' });
    expect(redact('4111\u20101111\u20101111\u20101111', { mode: 'partial' })).toBe('***1111');
    expect(redact('+1\u2212415\u2212555\u22122671', { mode: 'partial' })).toBe('***2671');
    expect(hashing.value('4111\u20121111\u20121111\u20121111', { mode: 'hash' })).toBe(
      hashing.value('4111-1111-1111-1111', { mode: 'hash' }),
    );
  });

  it('still refuses what the ASCII spelling refuses', () => {
    for (const [, dash] of dashes) {
      expect(redactText(`4111${dash}1111${dash}1111${dash}1112`)).toBe(`4111${dash}1111${dash}1111${dash}1112`);
      expect(redactText(`000${dash}12${dash}3456`)).toBe(`000${dash}12${dash}3456`);
      expect(redactText(`2024${dash}05${dash}12`)).toBe(`2024${dash}05${dash}12`);
    }
    expect(redactText('1990\u20132000, pages 10\u201320 \u2014 ok')).toBe('1990\u20132000, pages 10\u201320 \u2014 ok');
  });
});

describe('deep and odd values', () => {
  it('walks 200 000 levels of nested objects and arrays without overflowing the stack', () => {
    const depth = 200_000;
    let value: unknown = { email: 'ada@example.com', password: 'x' };
    for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { child: value };
    let output = compiled.value(value);
    let levels = 0;
    while (Array.isArray(output) || (typeof output === 'object' && output !== null && 'child' in output)) {
      output = Array.isArray(output) ? output[0] : (output as { child: unknown }).child;
      levels++;
    }
    expect(levels).toBe(depth);
    expect(output).toEqual({ email: '***', password: '***' });
  });

  it('walks a 100 000-element array', () => {
    const items = Array.from({ length: 100_000 }, (_, index) => ({ id: index, email: `user${index}@example.com` }));
    const output = compiled.value(items) as Array<{ id: number; email: string }>;
    expect(output).toHaveLength(100_000);
    expect(output[99_999]).toEqual({ id: 99_999, email: '***' });
  });

  it('scrubs object keys that hold secrets or personal data, keeping colliding members', () => {
    expect(compiled.value({ [secret]: 1, 'ada@example.com': { role: 'admin' }, 'bob@example.com': { role: 'user' }, plain: true })).toEqual(
      {
        '***': 1,
        '***~2': { role: 'admin' },
        '***~3': { role: 'user' },
        plain: true,
      },
    );
    // A key spelt like the mask after a renamed one: both values stay, in both orders.
    expect(compiled.value({ 'ada@example.com': 2, '***': 3 })).toEqual({ '***': 2, '***~2': 3 });
    expect(compiled.value({ '***': 3, 'ada@example.com': 2 })).toEqual({ '***': 3, '***~2': 2 });
    expect(compiled.value({ 'ada@example.com': 1, '***': 2, '***~2': 3 })).toEqual({ '***': 1, '***~2': 2, '***~2~2': 3 });
  });

  it('never mutates its input', () => {
    const input = Object.freeze({
      password: 'hunter2',
      list: Object.freeze(['ada@example.com', Object.freeze({ token: 't' })]),
      [secret]: secret,
    });
    const snapshot = JSON.stringify(input);
    const output = compiled.value(input);
    expect(JSON.stringify(input)).toBe(snapshot);
    expect(output).not.toBe(input);
  });

  it('copies as JSON would: toJSON honoured, functions and undefined dropped', () => {
    class Credential {
      toJSON() {
        return { note: `key ${secret}` };
      }
    }
    const input = {
      when: new Date(Date.UTC(2024, 0, 2)),
      wrapped: new Credential(),
      skip: undefined,
      run: () => 1,
      list: [undefined, () => 1, 1],
    };
    expect(compiled.value(input)).toEqual({ when: '2024-01-02T00:00:00.000Z', wrapped: { note: 'key ***' }, list: [null, null, 1] });
  });

  it('gives a bigint a JSON form: a number when a double holds it, else its digits', () => {
    const input = { small: 10n, negative: -42n, safe: 9_007_199_254_740_991n, huge: 123_456_789_012_345_678_901_234_567_890n, list: [1n] };
    const output = compiled.value(input);
    expect(output).toEqual({ small: 10, negative: -42, safe: 9_007_199_254_740_991, huge: '123456789012345678901234567890', list: [1] });
    expect(JSON.parse(JSON.stringify(output))).toEqual(output);
    // A card number is still found in one.
    expect(compiled.value({ card: 4111111111111111n })).not.toEqual({ card: 4111111111111111 });
  });

  it('replaces cycles but keeps shared references', () => {
    const shared = { email: 'ada@example.com' };
    const cyclic: Record<string, unknown> = { name: 'loop', shared, again: shared };
    cyclic.self = cyclic;
    expect(compiled.value(cyclic)).toEqual({ name: 'loop', shared: { email: '***' }, again: { email: '***' }, self: CIRCULAR });
    expect(redactor.value(cyclic, { paths: [{ path: '$', mode: 'hash' }] })).toBe('***');
  });

  it('replaces cycles at any depth, above and below the recursion limit, and nothing else', () => {
    // A chain 300 levels deep: the walk recurses for the first levels and goes on with an
    // explicit stack below; links back to the root, to a node near the top and to a node
    // below the limit are cycles wherever they are met.
    type Link = { level: number; next?: Link; back?: unknown; peer?: unknown; email: string };
    const root: Link = { level: 0, email: 'ada@example.com' };
    const levels: Link[] = [root];
    for (let level = 1; level < 300; level++) {
      const link: Link = { level, email: 'ada@example.com' };
      (levels[level - 1] as Link).next = link;
      levels.push(link);
    }
    (levels[60] as Link).back = root;
    (levels[200] as Link).back = levels[5];
    (levels[299] as Link).back = levels[250];
    // A node walked earlier at a greater depth, met again higher up: shared, not a cycle.
    const sibling = { deep: { email: 'ada@example.com' } };
    (levels[3] as Link).peer = { first: { inside: sibling }, second: sibling };

    const output = compiled.value(root) as Link;
    const walked: Link[] = [];
    for (let link: Link | undefined = output; link !== undefined; link = link.next) walked.push(link);
    expect(walked).toHaveLength(300);
    expect(walked.every((link, level) => link.level === level && link.email === '***')).toBe(true);
    expect(walked.filter((link) => link.back !== undefined).map((link) => [link.level, link.back])).toEqual([
      [60, CIRCULAR],
      [200, CIRCULAR],
      [299, CIRCULAR],
    ]);
    expect((walked[3] as Link).peer).toEqual({ first: { inside: { deep: { email: '***' } } }, second: { deep: { email: '***' } } });
  });

  it('replaces cycles that run through toJSON, whose every call makes new objects', () => {
    // An object graph whose toJSON copies its links: what it contains is never the same
    // object twice, but the graph it is made from is walked again (JSON.stringify overflows
    // its stack on it). A bound on the calls makes a walk that never ends fail instead.
    let calls = 0;
    class Node {
      next: Node | undefined;
      back: Node | undefined;
      constructor(readonly level: number) {}
      toJSON() {
        if (++calls > 10_000) throw new Error('toJSON called without end');
        return { level: this.level, email: 'ada@example.com', next: this.next, back: this.back, links: [this.back] };
      }
    }
    // 300 levels: links back are met by the recursive walk and by the explicit stack below it.
    const nodes = Array.from({ length: 300 }, (_, level) => new Node(level));
    nodes.forEach((node, level) => {
      node.next = nodes[level + 1];
    });
    (nodes[2] as Node).back = nodes[0];
    (nodes[299] as Node).back = nodes[250];

    type Walked = { level: number; email: string; next?: Walked; back?: unknown; links: unknown[] };
    const output = compiled.value(nodes[0]) as Walked;
    const walked: Walked[] = [];
    for (let node: Walked | undefined = output; node !== undefined; node = node.next) walked.push(node);
    expect(walked).toHaveLength(300);
    expect(walked.every((node, level) => node.level === level && node.email === '***')).toBe(true);
    expect(walked.filter((node) => node.back !== undefined).map((node) => [node.level, node.back, node.links])).toEqual([
      [2, CIRCULAR, [CIRCULAR]],
      [299, CIRCULAR, [CIRCULAR]],
    ]);
  });

  it('keeps a "__proto__" key as data and never touches prototypes', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true, "password": "x"}, "a": 1}') as Record<string, unknown>;
    const output = compiled.value(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
    expect(Object.hasOwn(output, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(output, '__proto__')?.value).toEqual({ polluted: true, password: '***' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('passes scalars through', () => {
    expect(compiled.value(null)).toBeNull();
    expect(compiled.value(true)).toBe(true);
    expect(compiled.value(3.5)).toBe(3.5);
    expect(compiled.value('ada@example.com')).toBe('***');
    expect(compiled.value(undefined)).toBeUndefined();
    expect(compiled.value(4111111111111111)).toBe('***');
    expect(compiled.value(12n)).toBe(12); // JSON has no bigint
  });
});

describe('large and hostile strings', () => {
  it('finds every finding in a megabyte string', () => {
    const chunk = `${'lorem ipsum dolor sit amet '.repeat(36)}ada@example.com `;
    const text = chunk.repeat(Math.ceil(1_000_000 / chunk.length));
    const output = compiled.text(text);
    expect(output.split('***').length - 1).toBe(text.split('ada@example.com').length - 1);
  });

  it.each([
    ['e-mail fragments', 'a@'.repeat(50_000)],
    ['domain fragments', '@a.'.repeat(50_000)],
    ['digit groups', '1 '.repeat(100_000)],
    ['a long digit run', '4'.repeat(200_000)],
    ['unterminated PEM blocks', '-----BEGIN PRIVATE KEY-----'.repeat(5_000)],
    ['unterminated quotes after keys', 'password:"'.repeat(20_000)],
    ['separators', ':='.repeat(100_000)],
    ['colons', ':'.repeat(200_000)],
    ['hex groups', 'ab:'.repeat(60_000)],
    ['JWT-like runs', 'eyJ'.repeat(60_000)],
    ['key prefixes', 'sk-'.repeat(60_000)],
    ['IBAN-like groups', `DE89 ${'1234 '.repeat(40_000)}`],
    ['URL credentials', 'http://a:b'.repeat(20_000)],
  ])('handles %s in linear time', (_, text) => {
    const scanner = createRedactor({ detectors: { ipv4: true, ipv6: true } }).compile({ secrets: [secret] });
    expect(typeof scanner.text(text)).toBe('string');
  });

  // A megabyte (an input's or a response's size): in quadratic time, each of these takes
  // minutes; in linear time, well under a second.
  it.each([
    ['e-mail addresses after colons', `x ${':p@a.bc'.repeat(150_000)}`, `x ${':***'.repeat(150_000)}`],
    ['PEM headers of blocks that never end', '-----BEGIN PRIVATE KEY-----!'.repeat(75_000), '***!'.repeat(75_000)],
  ])(
    'handles a megabyte of %s in linear time',
    (_, text, redacted) => {
      expect(compiled.text(text)).toBe(redacted);
    },
    15_000,
  );
});

describe('precompilation', () => {
  const OriginalRegExp = globalThis.RegExp;
  afterEach(() => {
    globalThis.RegExp = OriginalRegExp;
  });

  it('builds no pattern while redacting, once a kind of string has been seen', () => {
    const profileCompiled = createRedactor().compile({ secrets: [secret], paths: ['$..card'] });
    const redactBoth = () => {
      profileCompiled.value({ card: '4111', note: `mail ada@example.com ${secret} ｆｕｌｌ`, nested: [{ apiKey: 'x' }] });
      profileCompiled.text('password=abc 4111 1111 1111 1111 AKIAIOSFODNN7EXAMPLE ａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ');
    };
    // The first strings of each shape compile the alternation of the rules they can match.
    redactBoth();
    let constructed = 0;
    globalThis.RegExp = new Proxy(OriginalRegExp, {
      construct(target, argumentsList) {
        constructed++;
        return Reflect.construct(target, argumentsList);
      },
      apply(target, thisArgument, argumentsList) {
        constructed++;
        return Reflect.apply(target, thisArgument, argumentsList);
      },
    });
    redactBoth();
    globalThis.RegExp = OriginalRegExp;
    expect(constructed).toBe(0);
  });
});
