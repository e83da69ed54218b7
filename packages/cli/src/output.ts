import { BatonError } from "@baton/core";

// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
/* eslint-disable no-control-regex -- matching control characters is the point */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */

/**
 * Text from the server (names, messages, log lines) as it may reach a terminal: every control
 * character written out (`\x1b`, `\u202e`), so that none can recolour, move the cursor, retitle the
 * window or write the clipboard. `keepLines` keeps newlines and tabs, for multi-line messages.
 */
export function escapeControl(text: string, { keepLines = false }: { keepLines?: boolean } = {}): string {
  return text.replace(keepLines ? CONTROL_BUT_LINES : CONTROL, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

export const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

export const bold = (text: string): string => (useColor() ? `\x1b[1m${text}\x1b[22m` : text);
export const dim = (text: string): string => (useColor() ? `\x1b[2m${text}\x1b[22m` : text);
/** Text in an ANSI foreground colour (31 red, 32 green, 33 yellow, 34 blue, 36 cyan, 90 grey), on a TTY only. */
export const paint = (colour: number, text: string): string =>
  useColor() && colour ? `\x1b[${colour}m${text}\x1b[39m` : text;

/** Prints one line that says what went wrong and exits non-zero; the stack only with BATON_DEBUG. */
export function fail(error: unknown): never {
  const batonError = BatonError.from(error);
  const message = error instanceof BatonError ? batonError.message : `${batonError.message}`;
  // The message may quote names from the server: no control characters reach the terminal.
  process.stderr.write(`error: ${escapeControl(message, { keepLines: true })}\n`);
  if (process.env.BATON_DEBUG && error instanceof Error && error.stack)
    process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
