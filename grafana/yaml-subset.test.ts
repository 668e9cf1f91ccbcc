/**
 * The strict YAML-subset reader the Grafana and compose tests rely on: what it accepts, and that
 * it refuses, by line, what it does not understand rather than guessing.
 */
import { describe, expect, it } from 'vitest';
import { parseYamlSubset, YamlSubsetError } from './yaml-subset.js';

const accepted: [string, string, unknown][] = [
  ['mapping of scalars', 'a: 1\nb: text\nc: true\nd: null\ne: 1.5\n', { a: 1, b: 'text', c: true, d: null, e: 1.5 }],
  ['nested mapping', 'a:\n  b:\n    c: x\n', { a: { b: { c: 'x' } } }],
  ['sequence of mappings', 'list:\n  - name: a\n    n: 1\n  - name: b\n', { list: [{ name: 'a', n: 1 }, { name: 'b' }] }],
  ['sequence at the key indentation', 'list:\n- a\n- b\nnext: 1\n', { list: ['a', 'b'], next: 1 }],
  ['quoted scalars', `a: 'it''s # not a comment'\nb: "tab\\t"\n`, { a: "it's # not a comment", b: 'tab\t' }],
  ['comments', '# header\na: x1 # trailing\n  # indented comment\nb: y1\n', { a: 'x1', b: 'y1' }],
  ['url and env reference', "u: http://influxdb:8086\nv: 'Token ${INFLUX_TOKEN}'\n", { u: 'http://influxdb:8086', v: 'Token ${INFLUX_TOKEN}' }],
  ['empty value', 'a:\nb: 1\n', { a: null, b: 1 }],
  ['nested sequences', 'a:\n  -\n    - x\n', { a: [['x']] }],
];

const refused: [string, string, RegExp][] = [
  ['flow sequence', 'a: [1, 2]\n', /needs quotes|outside the subset/],
  ['flow mapping', 'a: {b: 1}\n', /needs quotes|outside the subset/],
  ['anchor', 'a: &x 1\n', /needs quotes|outside the subset/],
  ['block scalar', 'a: |\n  text\n', /needs quotes|outside the subset/],
  ['tab indentation', 'a:\n\tb: 1\n', /tab/],
  ['duplicate key', 'a: 1\na: 2\n', /duplicate key "a"/],
  ['bad indentation', 'a:\n    b: 1\n  c: 2\n', /indentation/],
  ['YAML 1.1 boolean', 'a: yes\n', /ambiguous/],
  ['sexagesimal-looking port mapping', 'a: 8125:8125\n', /ambiguous/],
  ['document marker', '---\na: 1\n', /document markers/],
  ['unterminated quote', "a: 'x\n", /unterminated/],
  ['colon in a plain scalar', 'a: b: c\n', /colon/],
];

describe('YAML subset reader', () => {
  it.each(accepted)('accepts %s', (_, source, expected) => {
    expect(parseYamlSubset(source)).toEqual(expected);
  });

  it.each(refused)('refuses %s', (_, source, message) => {
    let error: unknown;
    try {
      parseYamlSubset(source);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(YamlSubsetError);
    expect((error as Error).message).toMatch(/^line \d+: /);
    expect((error as Error).message).toMatch(message);
  });
});
