/** The glue module of @influxdata/flux-lsp-browser, imported directly (why: flux-parser.ts). */
declare module '@influxdata/flux-lsp-browser/flux-lsp-browser_bg.js' {
  /** The AST of a script, whether it is valid or not (errors sit on the nodes). */
  export function parse(script: string): unknown;
  /** Syntax and semantic check. */
  export function is_valid_flux(script: string): boolean;
}
