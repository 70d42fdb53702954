// Errors shared by every layer. The exit code travels with the error so front ends map any
// failure to DESIGN.md's exit statuses without knowing where it came from.

/** Base of every error berth raises on purpose. */
export class BerthError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A bad value from the user (exit 1). The message names the value and what is accepted. */
export class UserError extends BerthError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
  }
}

/** The command line itself is wrong: unknown flag, missing argument (exit 2). */
export class UsageError extends BerthError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 2, options);
  }
}

/** The kernel or the system failed us (exit 3). */
export class SystemError extends BerthError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 3, options);
  }
}

/** The named thing (network, container, endpoint…) does not exist. */
export class NotFoundError extends UserError {}

/** The value is well-formed but clashes with existing state (name taken, address in use…). */
export class ConflictError extends UserError {}

/** The value is well-formed but the named thing's policy refuses it (Docker's 403 Forbidden). */
export class ForbiddenError extends UserError {}

/**
 * A user's value as it appears in a message: in double quotes, with control characters
 * (C0, DEL, C1), line and paragraph separators and bidi overrides escaped, so that an error
 * never carries a terminal escape or a forged line back to whoever reads it.
 */
export function quote(value: unknown): string {
  return JSON.stringify(String(value)).replace(
    /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The last line of defence for messages a value reached without quote(): control characters
 * (but newline and tab), DEL, C1 and bidi overrides become \uXXXX, so no message can drive
 * the reader's terminal.
 */
export function escapeControls(message: string): string {
  return message.replace(
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
