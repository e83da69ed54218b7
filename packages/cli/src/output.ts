import { BatonError } from "@baton/core";

const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

export const bold = (text: string): string => (useColor() ? `\x1b[1m${text}\x1b[22m` : text);
export const dim = (text: string): string => (useColor() ? `\x1b[2m${text}\x1b[22m` : text);
/** Text in an ANSI foreground colour (31 red, 32 green, 33 yellow, 34 blue, 36 cyan, 90 grey), on a TTY only. */
export const paint = (colour: number, text: string): string =>
  useColor() && colour ? `\x1b[${colour}m${text}\x1b[39m` : text;

/** Prints one line that says what went wrong and exits non-zero; the stack only with BATON_DEBUG. */
export function fail(error: unknown): never {
  const batonError = BatonError.from(error);
  const message = error instanceof BatonError ? batonError.message : `${batonError.message}`;
  process.stderr.write(`error: ${message}\n`);
  if (process.env.BATON_DEBUG && error instanceof Error && error.stack)
    process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
