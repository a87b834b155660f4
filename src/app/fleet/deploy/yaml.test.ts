import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { toYaml, toYamlStream } from './yaml.ts';

describe('toYaml', () => {
  it('writes values a YAML reader gets back unchanged, strings never turned into other types', () => {
    const value = {
      plain: 'text', empty: '', yes: 'yes', number: '3101', nul: 'null', hash: 'a # b', colon: 'a: b', interp: '${JWT_SECRET:?set it}',
      quote: 'say "hi"\nnext line', n: 3, f: false, z: null, 'app.kubernetes.io/name': 'x', 'needs quoting': 1,
      list: ['a', 1, { k: 'v', nested: [{ deep: ['x'] }] }, [], {}], emptyMap: {}, emptyList: [],
    };
    expect(parse(toYaml(value))).toEqual(value);
  });

  it('leaves out undefined fields and separates documents', () => {
    const docs = parseAllDocuments(toYamlStream([{ a: 1, b: undefined }, { c: ['d'] }])).map((d) => d.toJS() as unknown);
    expect(docs).toEqual([{ a: 1 }, { c: ['d'] }]);
  });
});
