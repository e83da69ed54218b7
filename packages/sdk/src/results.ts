import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { BatonError, newId, type ResultReference } from "@baton/core";
import type { BatonClient } from "@baton/client";
import { defaultClient } from "./settings.js";

/** Turns results into bytes and back; its name is recorded beside each stored result. */
export interface Serializer<T = unknown> {
  name: string;
  serialize(value: T): Uint8Array;
  deserialize(bytes: Uint8Array, typeName: string | undefined): T;
  /** A type name to record with the result, so a reader can decode it into the right type. */
  typeName?(value: T): string | undefined;
  /**
   * Values this serializer recognizes (a protobuf message, say) are written with it, not as plain
   * JSON; with toJson and fromJson they stay inline in the state as JSON, readable by people too.
   */
  handles?(value: unknown): boolean;
  toJson?(value: T): JsonValue;
  fromJson?(json: JsonValue, typeName: string | undefined): T;
}

type JsonValue = Extract<ResultReference, { kind: "inline" }>["value"];

/** Where stored results live; its name is recorded so another process can read them back. */
export interface ResultStorage {
  name: string;
  write(key: string, bytes: Uint8Array): Promise<void>;
  read(key: string): Promise<Uint8Array>;
}

export const jsonSerializer: Serializer = {
  name: "json",
  serialize: (value) => new TextEncoder().encode(JSON.stringify(value)),
  deserialize: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
};

/** Files under BATON_HOME/results (default ~/.baton/results). */
export class LocalFileStorage implements ResultStorage {
  readonly name = "local";
  constructor(readonly directory = join(process.env.BATON_HOME || join(homedir(), ".baton"), "results")) {}

  async write(key: string, bytes: Uint8Array): Promise<void> {
    const path = join(this.directory, key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }

  async read(key: string): Promise<Uint8Array> {
    try {
      return await readFile(join(this.directory, key));
    } catch (error) {
      throw new BatonError(
        "not_found",
        `result '${key}' is not in ${this.directory}: is BATON_HOME the same as the run's?`,
        { cause: error },
      );
    }
  }
}

const serializers = new Map<string, Serializer>([[jsonSerializer.name, jsonSerializer]]);
/** The serializers that recognize their values; asked about every result, so kept apart and short. */
let recognizers: Serializer[] = [];

/** The registered serializer that recognizes this value, if any. */
const serializerFor = (value: unknown): Serializer | undefined =>
  recognizers.find((serializer) => serializer.handles!(value));
const storages = new Map<string, () => ResultStorage>([["local", () => new LocalFileStorage()]]);

/** Makes a serializer known to this process, so results it wrote can be read here. */
export function registerSerializer(serializer: Serializer): void {
  serializers.set(serializer.name, serializer);
  recognizers = [...serializers.values()].filter((known) => known.handles !== undefined);
}

export function registerResultStorage(name: string, make: () => ResultStorage): void {
  storages.set(name, make);
}

export interface ResultOptions {
  /** Store the result in result storage instead of inline in the state. @default false */
  persistResult?: boolean;
  /** @default jsonSerializer */
  resultSerializer?: Serializer;
  /** @default LocalFileStorage */
  resultStorage?: ResultStorage;
}

/** Describes a result for the final state: stored when asked, else inline when it is JSON. */
export async function referenceFor(value: unknown, options: ResultOptions): Promise<ResultReference | null> {
  if (value === undefined) return null;
  const typed = serializerFor(value);
  if (typed?.toJson && !options.persistResult && !options.resultSerializer) {
    const typeName = typed.typeName?.(value);
    return {
      kind: "inline",
      serializer: typed.name,
      value: typed.toJson(value),
      ...(typeName ? { typeName } : {}),
    };
  }
  if (options.persistResult || options.resultSerializer || typed) {
    const serializer = options.resultSerializer ?? typed ?? jsonSerializer;
    // A process that writes with a serializer can read its results back too.
    registerSerializer(serializer);
    const storage = options.resultStorage ?? new LocalFileStorage();
    const key = `${newId()}.${serializer.name}`;
    await storage.write(key, serializer.serialize(value));
    const typeName = serializer.typeName?.(value);
    return {
      kind: "stored",
      serializer: serializer.name,
      storage: storage.name,
      key,
      ...(typeName ? { typeName } : {}),
    };
  }
  try {
    return {
      kind: "inline",
      serializer: "json",
      value: JSON.parse(JSON.stringify(value)) as JsonValue,
    };
  } catch {
    return null;
  }
}

/** Reads a result back, decoded by the serializer that wrote it. */
export async function loadResult(reference: ResultReference | null | undefined): Promise<unknown> {
  if (!reference) return undefined;
  if (reference.kind === "inline" && reference.serializer === jsonSerializer.name) return reference.value;
  const serializer = serializers.get(reference.serializer);
  if (!serializer) {
    throw new BatonError(
      "invalid_argument",
      `no serializer '${reference.serializer}' is registered in this process; call registerSerializer() first`,
    );
  }
  if (reference.kind === "inline") {
    if (!serializer.fromJson) {
      throw new BatonError("invalid_argument", `serializer '${serializer.name}' cannot read inline results`);
    }
    return serializer.fromJson(reference.value, reference.typeName);
  }
  const storage = storages.get(reference.storage)?.();
  if (!storage)
    throw new BatonError(
      "invalid_argument",
      `no result storage '${reference.storage}' is registered in this process`,
    );
  return serializer.deserialize(await storage.read(reference.key), reference.typeName);
}

/** The result of a finished flow run, fetched from the server and decoded, from any process. */
export async function getFlowRunResult<T = unknown>(
  flowRunId: string,
  client: BatonClient | null = defaultClient(),
): Promise<T> {
  if (!client) throw new BatonError("invalid_argument", "set BATON_API_URL to read run results");
  const run = await client.api.readFlowRun({ params: { id: flowRunId } });
  if (run.state?.type !== "COMPLETED") {
    throw new BatonError(
      "conflict",
      `flow run '${run.name}' has no result: it is ${run.state?.name ?? "not started"}`,
    );
  }
  return (await loadResult(run.state.data)) as T;
}
