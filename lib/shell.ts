// Remote commands are built here and only here: every value is validated against its grammar by
// the caller, then single-quoted for a POSIX shell all the same.

/** Quotes one argument for a POSIX shell: 'it'\''s' style. */
export function shellQuote(value: string): string {
  if (value.includes("\0")) throw new Error("a shell argument cannot contain a NUL byte");
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Fills `{name}` placeholders (not shell `${VAR}` expansions) of a command template with quoted values. An unknown placeholder
 * or a missing value is an error, so a typo in the config never runs a half-built command.
 */
export function renderCommand(template: string, values: Record<string, string>): string {
  return template.replace(/(?<!\$)\{([a-zA-Z]+)\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown placeholder {${name}} in command template`);
    return shellQuote(value);
  });
}

/** The placeholders a template uses, for validating config at load time. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(/(?<!\$)\{([a-zA-Z]+)\}/g)].map((m) => m[1]!);
}
