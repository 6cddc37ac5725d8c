/**
 * Errors about a capture file: an InputError that also carries the byte
 * offset of the damaged record and the frame number (1-based, 0 when the
 * damage is not in a frame, e.g. the file header).
 */
import { InputError } from "../snapshot/errors.js";

export class CaptureError extends InputError {
  constructor(
    file: string,
    /** Byte offset in the file of the record (or field) that is wrong. */
    readonly offset: number,
    /** 1-based frame number, 0 if the problem is not in a frame. */
    readonly frame: number,
    token: string,
    problem: string,
  ) {
    super(file, 0, token, `${frame ? `frame ${frame}, ` : ""}byte offset ${offset}: ${problem}`);
  }
}
