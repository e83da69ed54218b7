import { createHmac, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { BatonError } from "@baton/core";

/** The key secrets are encrypted with (AES-256-GCM), and a short id naming it in stored values. */
export interface SecretsKey {
  bytes: Buffer;
  /** Derived from the key (not the key): says which key a stored value needs, without revealing it. */
  id: string;
}

const KEY_BYTES = 32;

export const secretsKeyFile = (home: string): string => join(home, "secrets.key");

export function secretsKeyOf(bytes: Buffer): SecretsKey {
  const id = createHmac("sha256", bytes).update("baton secrets key id").digest("hex").slice(0, 8);
  return { bytes, id };
}

/** A new random key, written as base64 (the form BATON_SECRETS_KEY and the key file take). */
export const generateSecretsKey = (): string => randomBytes(KEY_BYTES).toString("base64");

/** Reads a key written as 64 hex digits or as base64 of 32 bytes; `source` names where it came from. */
export function parseSecretsKey(text: string, source: string): SecretsKey {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return secretsKeyOf(Buffer.from(trimmed, "hex"));
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, "base64");
    if (bytes.length === KEY_BYTES) return secretsKeyOf(bytes);
    throw new BatonError(
      "invalid_argument",
      `${source} is not a secrets key: it is base64 of ${bytes.length} bytes, and a key is ${KEY_BYTES} bytes; generate one with 'openssl rand -base64 32'`,
    );
  }
  throw new BatonError(
    "invalid_argument",
    `${source} is not a secrets key: a key is ${KEY_BYTES} bytes written as 64 hex digits or as base64 (44 characters), and this is ${trimmed.length} characters of neither; generate one with 'openssl rand -base64 32'`,
  );
}

/** Writes a key file readable by its owner only; `exclusive` fails if it exists. */
function writeKeyFile(path: string, key: string, exclusive: boolean): void {
  const fd = openSync(path, exclusive ? "wx" : "w", 0o600);
  try {
    writeSync(fd, `${key}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Replaces the key file at once (a new file renamed over it), so that it is never half written. */
export function replaceKeyFile(path: string, key: string): void {
  const next = `${path}.new`;
  writeKeyFile(next, key, false);
  renameSync(next, path);
}

/**
 * The server's secrets key: BATON_SECRETS_KEY when set (several servers on one database must all
 * have the same), else `$BATON_HOME/secrets.key`, created on first start. A key file others may
 * read is refused, as ssh refuses such a private key: the key opens every secret in the database.
 */
export function loadSecretsKey(settings: { secretsKey: string | undefined; home: string }): SecretsKey {
  if (settings.secretsKey !== undefined) return parseSecretsKey(settings.secretsKey, "BATON_SECRETS_KEY");
  const path = secretsKeyFile(settings.home);
  if (!existsSync(path)) {
    mkdirSync(settings.home, { recursive: true, mode: 0o700 });
    try {
      writeKeyFile(path, generateSecretsKey(), true);
    } catch (error) {
      // Another process of the same home created it first: read theirs.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    throw new BatonError(
      "invalid_argument",
      `the secrets key file ${path} can be read by other users (mode ${mode.toString(8).padStart(4, "0")}); make it private with 'chmod 600 ${path}', or give the key in BATON_SECRETS_KEY`,
    );
  }
  return parseSecretsKey(readFileSync(path, "utf8"), `the secrets key file ${path}`);
}
