// Types of scripts/docs-reference.mjs, for the test that keeps the generated sections current.

export interface DocumentedVariable {
  readonly default?: string;
  readonly description: string;
}

export interface DocumentedCloseCode {
  readonly code: number;
  readonly name: string;
  readonly reconnect: boolean;
  readonly newToken: boolean;
  readonly description: string;
}

export interface CodeRange {
  readonly min: number;
  readonly max: number;
}

/** What the generated sections are rendered from: the gateway's and the protocol's exports of these names. */
export interface DocumentationSources {
  readonly CONFIG_VARIABLES: Readonly<Record<string, DocumentedVariable>>;
  readonly CloseCodes: Readonly<Record<string, DocumentedCloseCode>>;
  readonly HERALD_CLOSE_CODE_RANGE: CodeRange;
  readonly HERALD_RECONNECT_RANGE: CodeRange;
  readonly HERALD_NEW_TOKEN_RANGE: CodeRange;
}

export interface ConfigGroup {
  readonly title: string;
  readonly intro: string;
  readonly variables: readonly string[];
}

export const CONFIG_GROUPS: readonly ConfigGroup[];
export const GENERATED_FILES: readonly string[];
export function renderConfiguration(sources: Pick<DocumentationSources, 'CONFIG_VARIABLES'>): string;
export function renderCloseCodes(sources: Omit<DocumentationSources, 'CONFIG_VARIABLES'>): string;
export function replaceSection(file: string, text: string, section: string, body: string): string;
export function regenerate(file: string, text: string, sources: DocumentationSources): string;
