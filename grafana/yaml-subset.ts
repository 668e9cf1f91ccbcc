/**
 * A strict reader for the small subset of YAML our provisioning and compose files use, for tests:
 * the project has no YAML parser among its dependencies and these files do not justify one.
 * Block mappings and block sequences indented with spaces, `#` comments, plain, 'single' and
 * "double" quoted scalars, integers, decimals, true/false/null. Anything else (flow collections,
 * anchors, tags, block scalars, tabs, several documents, a duplicate key) is refused with the line
 * number, never guessed at, so a file this accepts means what it appears to mean. The tests also
 * compare the result with PyYAML's where it is installed.
 */

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

export class YamlSubsetError extends Error {
  override readonly name = 'YamlSubsetError';
  readonly code = 'HG_ERR_YAML_SUBSET';
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
  }
}

interface Line {
  readonly no: number;
  readonly indent: number;
  readonly text: string;
}

/** The text before a comment: `#` at the start or after a space, outside quotes. */
function stripComment(text: string, no: number): string {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === '"' && c === '\\') i++;
    else if (quote === "'" && c === "'" && text[i + 1] === "'") i++;
    else if (quote !== '' && c === quote) quote = '';
    else if (quote === '' && (c === '"' || c === "'") && (i === 0 || /[\s:\-[{,]/.test(text[i - 1]))) quote = c;
    else if (quote === '' && c === '#' && (i === 0 || text[i - 1] === ' ')) return text.slice(0, i).trimEnd();
  }
  if (quote !== '') throw new YamlSubsetError(no, `unterminated ${quote} string`);
  return text.trimEnd();
}

function toLines(source: string): Line[] {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const no = i + 1;
    if (/^\s*\t/.test(raw)) throw new YamlSubsetError(no, 'tab in indentation');
    const text = stripComment(raw, no);
    if (text.trim() === '') return;
    if (/^(---|\.\.\.)(\s|$)/.test(text) || text.startsWith('%')) throw new YamlSubsetError(no, 'document markers and directives are outside the subset');
    const indent = text.length - text.trimStart().length;
    lines.push({ no, indent, text: text.trimStart() });
  });
  return lines;
}

const PLAIN_FORBIDDEN_START = /^[[\]{}&*!|>@`%,?]/;

export function parseScalar(text: string, no: number): YamlValue {
  if (text.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"$/.test(text)) throw new YamlSubsetError(no, `unsupported double-quoted string ${text}`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(text)) throw new YamlSubsetError(no, `unsupported single-quoted string ${text}`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (PLAIN_FORBIDDEN_START.test(text) || text === '-' || text.startsWith('- ')) throw new YamlSubsetError(no, `${JSON.stringify(text)} needs quotes (or is outside the subset)`);
  if (/: |:$/.test(text)) throw new YamlSubsetError(no, `${JSON.stringify(text)}: a colon and space in a plain scalar needs quotes`);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (/^-?(0|[1-9]\d*)$/.test(text)) return Number(text);
  if (/^-?(0|[1-9]\d*)\.\d+$/.test(text)) return Number(text);
  // YAML 1.1 readers (PyYAML, docker-compose) take these as booleans, numbers or dates:
  // refuse them unquoted rather than disagree with them.
  if (/^(y|n|yes|no|on|off|true|false|null)$/i.test(text) || /^[-+]?[\d._:]+$/.test(text) || /^[-+]?\.(inf|nan)$/i.test(text) || /^\d{4}-\d\d-\d\d/.test(text)) {
    throw new YamlSubsetError(no, `${JSON.stringify(text)} is ambiguous across YAML versions: quote it`);
  }
  return text;
}

/** `key: rest` or `key:` → [key, rest]; undefined when the line is not a mapping entry. */
function splitKey(text: string, no: number): [string, string] | undefined {
  let keyEnd: number;
  let key: string;
  if (text.startsWith('"') || text.startsWith("'")) {
    const m = text.startsWith('"') ? /^"(?:[^"\\]|\\.)*"/.exec(text) : /^'(?:[^']|'')*'/.exec(text);
    if (!m || text[m[0].length] !== ':') return undefined;
    key = parseScalar(m[0], no) as string;
    keyEnd = m[0].length;
  } else {
    const m = /^([^\s:#'"][^:#]*?):(?=\s|$)/.exec(text);
    if (!m) return undefined;
    key = m[1];
    keyEnd = m[1].length;
    if (!/^[A-Za-z0-9_./-]+$/.test(key)) throw new YamlSubsetError(no, `key ${JSON.stringify(key)} needs quotes`);
  }
  const rest = text.slice(keyEnd + 1);
  if (rest !== '' && !rest.startsWith(' ')) return undefined;
  return [key, rest.trim()];
}

class Reader {
  private i = 0;
  constructor(private readonly lines: Line[]) {}

  parseDocument(): YamlValue {
    if (this.lines.length === 0) return null;
    const first = this.lines[0];
    if (first.indent !== 0) throw new YamlSubsetError(first.no, 'the document must start at column 1');
    const value = this.parseBlock(0);
    if (this.i < this.lines.length) throw new YamlSubsetError(this.lines[this.i].no, 'unexpected indentation');
    return value;
  }

  private parseBlock(indent: number): YamlValue {
    const line = this.lines[this.i];
    if (line.text === '-' || line.text.startsWith('- ')) return this.parseSequence(indent);
    if (splitKey(line.text, line.no) !== undefined) return this.parseMapping(indent);
    throw new YamlSubsetError(line.no, 'a lone scalar where a mapping or sequence was expected');
  }

  private parseSequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    while (this.i < this.lines.length) {
      const line = this.lines[this.i];
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlSubsetError(line.no, 'unexpected indentation in a sequence');
      if (!(line.text === '-' || line.text.startsWith('- '))) break;
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        this.i++;
        const next = this.lines[this.i];
        if (next === undefined || next.indent <= indent) items.push(null);
        else items.push(this.parseBlock(next.indent));
      } else if (splitKey(rest, line.no) !== undefined) {
        // `- key: value` opens a mapping whose entries line up with `key`.
        const itemIndent = indent + (line.text.length - rest.length);
        (this.lines as Line[])[this.i] = { no: line.no, indent: itemIndent, text: rest };
        items.push(this.parseMapping(itemIndent));
      } else {
        items.push(parseScalar(rest, line.no));
        this.i++;
      }
    }
    return items;
  }

  private parseMapping(indent: number): { [key: string]: YamlValue } {
    const map: { [key: string]: YamlValue } = {};
    while (this.i < this.lines.length) {
      const line = this.lines[this.i];
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlSubsetError(line.no, 'unexpected indentation in a mapping');
      if (line.text === '-' || line.text.startsWith('- ')) break;
      const entry = splitKey(line.text, line.no);
      if (entry === undefined) throw new YamlSubsetError(line.no, `expected "key: value", found ${JSON.stringify(line.text)}`);
      const [key, rest] = entry;
      if (Object.hasOwn(map, key)) throw new YamlSubsetError(line.no, `duplicate key ${JSON.stringify(key)}`);
      this.i++;
      if (rest !== '') {
        map[key] = parseScalar(rest, line.no);
        continue;
      }
      const next = this.lines[this.i];
      if (next !== undefined && next.indent > indent) map[key] = this.parseBlock(next.indent);
      // YAML lets a sequence under a key start at the key's own indentation.
      else if (next !== undefined && next.indent === indent && (next.text === '-' || next.text.startsWith('- '))) map[key] = this.parseSequence(indent);
      else map[key] = null;
    }
    return map;
  }
}

export function parseYamlSubset(source: string): YamlValue {
  return new Reader(toLines(source)).parseDocument();
}
