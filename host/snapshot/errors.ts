/**
 * Errors about input: they always name the file, the line and the token, and
 * the CLI prints them without a stack trace.
 */

export class InputError extends Error {
  override readonly name = "InputError";
  constructor(
    /** File the input came from (as the user named it, or a snapshot file name). */
    readonly file: string,
    /** 1-based line, 0 if not applicable. */
    readonly line: number,
    /** The offending token (or "" if the problem is the whole line). */
    readonly token: string,
    /** What is wrong, in words. */
    readonly problem: string,
    /** The line's text, for context. */
    readonly text?: string,
    /** 1-based column of the token, if known. */
    readonly column?: number,
  ) {
    super(InputError.format(file, line, token, problem, text, column));
  }

  static format(file: string, line: number, token: string, problem: string, text?: string, column?: number): string {
    const where = line > 0 ? `${file}:${line}${column ? `:${column}` : ""}` : file;
    const tok = token !== "" ? ` "${token}"` : "";
    const ctx = text !== undefined ? `\n    ${text}` : "";
    return `${where}:${tok ? tok + ":" : ""} ${problem}${ctx}`;
  }
}

/** Is this an error we raised about the user's input (print it plainly)? */
export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
