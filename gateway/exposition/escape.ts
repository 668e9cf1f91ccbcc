/**
 * statsd_exporter's name escaping (its pkg/mapper EscapeMetricName), for metric names and tag
 * keys alike (SPEC §6): every character outside [a-zA-Z0-9_] becomes `_`, a run of `-` counts
 * as one character (so `a--b` is `a_b`, kept so for names mapped with double dashes), and a
 * leading digit gets a `_` in front. Other repeated separators are not collapsed (`a.*.b` is
 * `a___b`). A character outside the BMP is one `_`, as Go iterates code points.
 */
export function escapeMetricName(name: string): string {
  const length = name.length;
  if (length === 0) return '';
  let i = 0;
  // Fast path: most names are already clean and need no copy.
  for (; i < length; i++) {
    if (!isNameChar(name.charCodeAt(i))) break;
  }
  const first = name.charCodeAt(0);
  const leadingDigit = first >= 48 && first <= 57;
  if (i === length) return leadingDigit ? `_${name}` : name;
  let out = leadingDigit ? `_${name.slice(0, i)}` : name.slice(0, i);
  let previous = -1;
  for (; i < length; i++) {
    const c = name.charCodeAt(i);
    if (isNameChar(c)) {
      out += name[i];
    } else if (c === 45 /* - */ && previous === 45) {
      // a second dash in a row adds nothing
    } else {
      out += '_';
      // a surrogate pair is one code point: one `_`
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
        const low = name.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) i++;
      }
    }
    previous = c;
  }
  return out;
}

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}
