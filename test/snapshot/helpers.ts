import { expect } from "vitest";
import { InputError } from "../../host/snapshot/errors.js";

/**
 * Runs fn, expecting an InputError that names file, line and token (in its
 * fields and in its message). Returns the error for further checks.
 */
export function expectInputError(fn: () => unknown, file: string, line: number, token: string): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, "expected an InputError").toBeInstanceOf(InputError);
  const err = caught as InputError;
  expect(err.file).toBe(file);
  expect(err.line).toBe(line);
  expect(err.token).toBe(token);
  expect(err.message).toContain(line > 0 ? `${file}:${line}` : `${file}:`);
  if (token !== "") expect(err.message).toContain(`"${token}"`);
  return err;
}

/** Lines joined with "\n" and a final newline, as a command prints them. */
export function lines(...ls: string[]): string {
  return ls.join("\n") + "\n";
}
