/**
 * A small YAML writer for the generated manifests: maps, lists, strings, numbers, booleans.
 * Hand-written rather than a dependency because the CLI loads it, and the image installs
 * production dependencies only; every string is written double-quoted in JSON's syntax, which
 * YAML reads the same way, so no value can turn into a number, a boolean or a comment. The
 * tests read the output back with the `yaml` package.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue | undefined };

const scalar = (v: string | number | boolean | null) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const key = (k: string) => (/^[A-Za-z_][A-Za-z0-9_.\-/]*$/.test(k) ? k : JSON.stringify(k));
const isEmpty = (v: YamlValue) => (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && v !== null && Object.values(v).every((x) => x === undefined));

function lines(value: YamlValue, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (typeof item !== 'object' || item === null || isEmpty(item)) return [`${indent}- ${typeof item === 'object' && item !== null ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`];
      const [first, ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first!.slice(indent.length + 2)}`, ...rest];
    });
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => {
      if (v === undefined) return [];
      if (typeof v !== 'object' || v === null) return [`${indent}${key(k)}: ${scalar(v)}`];
      if (isEmpty(v)) return [`${indent}${key(k)}: ${Array.isArray(v) ? '[]' : '{}'}`];
      return [`${indent}${key(k)}:`, ...lines(v, Array.isArray(v) ? indent : `${indent}  `)];
    });
  }
  return [`${indent}${scalar(value)}`];
}

/** One YAML document. */
export function toYaml(value: YamlValue): string {
  return `${lines(value, '').join('\n')}\n`;
}

/** Several documents in one stream, `---` between them. */
export function toYamlStream(values: YamlValue[]): string {
  return values.map(toYaml).join('---\n');
}
