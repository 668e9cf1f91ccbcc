/**
 * The real Flux parser and checker, for tests: InfluxData's flux-lsp (the Rust Flux parser and
 * semantic checker compiled to WebAssembly), npm package @influxdata/flux-lsp-browser. InfluxDB 2
 * cannot run here, so this is what tells the suite that a query InfluxDB 2 would receive is Flux,
 * not only that its text looks as expected.
 *
 * Why this package: it is the parser InfluxDB's own UI ships, it comes whole in the npm tarball
 * (the .wasm inside it, nothing downloaded at install or run time), and it runs on Node 20.
 * @influxdata/flux (0.5.1) and @influxdata/flux-parser (0.3.0) parse only, with no semantic
 * check, and are older builds of the same parser.
 *
 * It is built for bundlers (wasm-bindgen's "bundler" target: `import * as wasm from '*.wasm'`),
 * which vitest handles with vite-plugin-wasm (vitest.config.ts). The entry module imports the
 * .wasm before the glue, so the glue's last lines read the memory of an instance that does not
 * exist yet; importing the glue (`_bg.js`) first instantiates the .wasm from inside it, before
 * those lines run.
 */
import { is_valid_flux, parse } from '@influxdata/flux-lsp-browser/flux-lsp-browser_bg.js';

export interface FluxCheck {
  /** Syntax errors the parser found, with where they are. */
  readonly syntaxErrors: readonly string[];
  /** The semantic check passed: known functions, argument names and types. */
  readonly valid: boolean;
  /** The values of every string literal, decoded by the parser. */
  readonly strings: readonly string[];
}

interface AstNode {
  readonly type?: string;
  readonly value?: unknown;
  readonly errors?: readonly { readonly msg: string }[];
  readonly location?: { readonly start: { readonly line: number; readonly column: number } };
  readonly [key: string]: unknown;
}

export function checkFlux(query: string): FluxCheck {
  const syntaxErrors: string[] = [];
  const strings: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as AstNode;
    for (const e of n.errors ?? []) syntaxErrors.push(`${e.msg} at ${n.location?.start.line}:${n.location?.start.column}`);
    if (n.type === 'StringLiteral' && typeof n.value === 'string') strings.push(n.value);
    for (const [key, child] of Object.entries(n)) if (key !== 'location' && key !== 'errors') visit(child);
  };
  visit(parse(query));
  return { syntaxErrors, valid: is_valid_flux(query), strings };
}
