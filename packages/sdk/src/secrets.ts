import { requiredClient } from "./settings.js";

/**
 * Values shorter than this are handed out but not masked: replacing every "1" or "ok" in the logs
 * would mangle them, and a value that short is no secret worth the name.
 */
export const MASKED_FROM_LENGTH = 4;

const MASK = "***";

/** Every value `secret()` has answered in this process, and the pattern that finds any of them. */
const handedOut = new Set<string>();
let pattern: RegExp | null = null;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function remember(value: string): void {
  if (value.length < MASKED_FROM_LENGTH || handedOut.has(value)) return;
  handedOut.add(value);
  // Longest first, so that a value holding another one is masked whole.
  const alternatives = [...handedOut].sort((a, b) => b.length - a.length).map(escapeRegExp);
  pattern = new RegExp(alternatives.join("|"), "g");
}

/**
 * `text` with every secret value this process has handed out replaced by `***`: the one rule for
 * what leaves the process as a log line or a state's message.
 */
export function maskSecrets(text: string): string {
  return pattern ? text.replace(pattern, MASK) : text;
}

/**
 * The value of secret `name`, from the server at BATON_API_URL (with BATON_API_KEY). Run logs and
 * state messages of this process show it as `***` from then on (values of 4 characters or more).
 */
export async function secret(name: string): Promise<string> {
  const { value } = await requiredClient(`secret '${name}'`).api.revealSecret({ params: { name } });
  remember(value);
  return value;
}
