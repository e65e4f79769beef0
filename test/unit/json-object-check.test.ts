import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEventPayload, parseEventPayload } from '../../src/domain/events.js';

/** What the check must agree with: the payload decoded and given to JSON.parse. */
const byParse = (bytes: Uint8Array) => parseEventPayload(bytes) !== undefined;
const bytesOf = (text: string) => Buffer.from(text, 'utf8');

/** A small deterministic generator (mulberry32), so that a failure names a case that can be run again. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  '',
  'a',
  'é€😀',
  'quote " and \\ back',
  'tab\tnew\nline',
  '\u0000\u001f\u007f',
  '\ud800',
  '/',
  '\u2028',
];
const NUMBERS = ['0', '-0', '1', '-12', '3.25', '1e5', '1E+5', '-2.5e-3', '123456789012345678901234567890', '0.000'];

function value(rnd: () => number, depth: number): string {
  const pick = Math.floor(rnd() * (depth > 4 ? 4 : 7));
  switch (pick) {
    case 0:
      return JSON.stringify(STRINGS[Math.floor(rnd() * STRINGS.length)]);
    case 1:
      return NUMBERS[Math.floor(rnd() * NUMBERS.length)]!;
    case 2:
      return ['true', 'false', 'null'][Math.floor(rnd() * 3)]!;
    case 3:
      return JSON.stringify(`k${Math.floor(rnd() * 100)}`);
    case 4:
    case 5: {
      const n = Math.floor(rnd() * 4);
      const key = () => JSON.stringify(STRINGS[Math.floor(rnd() * STRINGS.length)]);
      const member = () => `${space(rnd)}${key()}${space(rnd)}:${space(rnd)}${value(rnd, depth + 1)}${space(rnd)}`;
      return `{${Array.from({ length: n }, member).join(',')}}`;
    }
    default: {
      const n = Math.floor(rnd() * 4);
      return `[${Array.from({ length: n }, () => `${space(rnd)}${value(rnd, depth + 1)}${space(rnd)}`).join(',')}]`;
    }
  }
}

function space(rnd: () => number): string {
  return rnd() < 0.7 ? '' : [' ', '\n', '\r\n', '\t', '  '][Math.floor(rnd() * 5)]!;
}

const NOISE = [
  0x7b, 0x7d, 0x5b, 0x5d, 0x22, 0x5c, 0x3a, 0x2c, 0x2d, 0x2b, 0x2e, 0x30, 0x31, 0x65, 0x75, 0x20, 0x0a, 0x00, 0x1f,
  0x7f, 0xc3, 0xa9, 0xef, 0xbb, 0xbf, 0x74, 0x6e, 0x66, 0x61,
];

function mutate(rnd: () => number, bytes: Buffer): Buffer {
  const out = [...bytes];
  const edits = 1 + Math.floor(rnd() * 3);
  for (let e = 0; e < edits && out.length > 0; e++) {
    const at = Math.floor(rnd() * out.length);
    const kind = Math.floor(rnd() * 4);
    const noise = NOISE[Math.floor(rnd() * NOISE.length)]!;
    if (kind === 0) out[at] = noise;
    else if (kind === 1) out.splice(at, 1);
    else if (kind === 2) out.splice(at, 0, noise);
    else out.length = at;
  }
  return Buffer.from(out);
}

describe('the JSON object check of event payloads', () => {
  it('agrees with JSON.parse on edge cases', () => {
    const cases = [
      '{}',
      ' {} ',
      '\n{\r\n}\t',
      '{"a":1}',
      '{"a":1,}',
      '{,}',
      '{"a" 1}',
      '{"a":}',
      '{"a":1 "b":2}',
      '{}{}',
      '{}x',
      '{} 1',
      '',
      ' ',
      '[]',
      '[{}]',
      '"s"',
      '1',
      'null',
      'true',
      '{"a":nul}',
      '{"a":tru}',
      '{"a":falsey}',
      '{"a":nulll}',
      '{"a":-}',
      '{"a":01}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":1e}',
      '{"a":1e+}',
      '{"a":-0.0e-0}',
      '{"a":+1}',
      '{"a":0x1}',
      '{"a":"\\u12"}',
      '{"a":"\\u12g4"}',
      '{"a":"\\uD800"}',
      '{"a":"\\x"}',
      '{"a":"\\/"}',
      '{"a":"\\',
      '{"a":"',
      '{"a',
      '{"a":"\t"}',
      '{"a":"\u007f"}',
      '{"a":[1,2,]}',
      '{"a":[,1]}',
      '{"a":[1 2]}',
      '{"a":{"b":{"c":[]}}}',
      '\ufeff{}',
      '{"a":1}\u0000',
      '{"é":"€"}',
      '{"a":"\u2028"}',
      '{"":""}',
      '{"a":1,"a":2}',
      '{"a":[]]}',
      '{"a":{}}}',
      '{"a":[}',
    ];
    for (const text of cases) assert.equal(isEventPayload(bytesOf(text)), byParse(bytesOf(text)), JSON.stringify(text));
  });

  it('agrees with JSON.parse beyond the depth it reads itself', () => {
    for (const depth of [60, 63, 64, 65, 200, 5000]) {
      const deep = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      assert.equal(isEventPayload(bytesOf(deep)), true, `depth ${depth}`);
      const broken = `{"a":${'['.repeat(depth)}${']'.repeat(depth - 1)}}`;
      assert.equal(isEventPayload(bytesOf(broken)), false, `depth ${depth}, one bracket short`);
    }
  });

  it('refuses bytes that are not UTF-8, as the decoding check did', () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const bytes = Buffer.concat([bytesOf('{"a":"'), Buffer.from(bad), bytesOf('"}')]);
      assert.equal(isEventPayload(bytes), false, Buffer.from(bad).toString('hex'));
    }
  });

  it('agrees with JSON.parse on 20,000 generated payloads and their mutations', () => {
    const rnd = random(20261127);
    let accepted = 0;
    let refused = 0;
    for (let n = 0; n < 10_000; n++) {
      const text = `${space(rnd)}${value(rnd, rnd() < 0.8 ? 4 : 0)}${space(rnd)}`;
      for (const bytes of [bytesOf(text), mutate(rnd, bytesOf(text))]) {
        const expected = byParse(bytes);
        assert.equal(isEventPayload(bytes), expected, `case ${n}: ${bytes.toString('hex')}`);
        if (expected) accepted++;
        else refused++;
      }
    }
    // Both answers must have been exercised in bulk for the agreement to mean something.
    assert.ok(accepted > 3000 && refused > 3000, `accepted ${accepted}, refused ${refused}`);
  });
});
