import { Command, InvalidArgumentError } from "commander";
import type { BatonClient } from "@baton/client";
import { ARTIFACT_TYPES, ArtifactKey, Id, type Artifact, type ArtifactType } from "@baton/core";
import { details, print, printJson, table, time, type Cell } from "../format.js";
import { parseId, parsePositive } from "../options.js";
import { apiClient } from "../settings.js";

/** Longest data shown in a listing; `baton artifact inspect` shows all of it. */
const PREVIEW_CHARS = 50;
const BAR_WIDTH = 20;

const cut = (text: string, chars: number): string =>
  text.length > chars ? `${text.slice(0, chars - 1)}…` : text;

/** `[##########----------] 50%` */
const progressBar = (percent: number): string => {
  const done = Math.round((percent / 100) * BAR_WIDTH);
  return `[${"#".repeat(done)}${"-".repeat(BAR_WIDTH - done)}] ${percent}%`;
};

/** An artifact's data on one line. */
function preview(artifact: Artifact): string {
  switch (artifact.type) {
    case "markdown":
      return cut(artifact.data.replace(/\s+/g, " ").trim(), PREVIEW_CHARS);
    case "table":
      return `${artifact.data.length} row(s)`;
    case "link":
      return cut(artifact.data.link, PREVIEW_CHARS);
    case "progress":
      return progressBar(artifact.data);
  }
}

/** A table artifact's rows as a table: objects by the union of their keys, arrays by position. */
function rowsTable(artifact: Artifact & { type: "table" }): string {
  const columns = [
    ...new Set(
      artifact.data.flatMap((row) => (Array.isArray(row) ? row.map((_, i) => String(i)) : Object.keys(row))),
    ),
  ];
  const cell = (value: unknown): Cell =>
    value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return table(
    columns.map((column) => column.toUpperCase()),
    artifact.data.map((row) => columns.map((column) => cell((row as Record<string, unknown>)[column]))),
    "No rows.",
  );
}

/** An artifact's data in full, as a terminal shows it. */
function body(artifact: Artifact): string {
  switch (artifact.type) {
    case "markdown":
      return artifact.data;
    case "table":
      return rowsTable(artifact);
    case "link":
      return artifact.data.linkText ? `${artifact.data.linkText}: ${artifact.data.link}` : artifact.data.link;
    case "progress":
      return progressBar(artifact.data);
  }
}

const isId = (value: string) => Id.safeParse(value).success;

function parseKey(value: string): string {
  if (!ArtifactKey.safeParse(value).success) {
    throw new InvalidArgumentError(
      `'${value}' is not an artifact key (lowercase letters, digits and dashes)`,
    );
  }
  return value;
}

function parseType(value: string): ArtifactType {
  const type = ARTIFACT_TYPES.find((known) => known === value.toLowerCase());
  if (!type)
    throw new InvalidArgumentError(`'${value}' is not an artifact type (${ARTIFACT_TYPES.join(", ")})`);
  return type;
}

/** An artifact by its id, or the newest version of a key, with how many versions the key has. */
async function artifactOf(client: BatonClient, keyOrId: string): Promise<Artifact> {
  if (isId(keyOrId)) return client.api.readArtifact({ params: { id: keyOrId } });
  const versions = await client.api.listArtifactVersions({
    params: { key: parseKey(keyOrId) },
    query: { limit: 1 },
  });
  return versions.items[0]!;
}

interface ListOptions {
  allVersions?: boolean;
  key?: string;
  flowRun?: string;
  type?: ArtifactType;
  limit: number;
  json?: boolean;
}

export function artifactCommand(): Command {
  const group = new Command("artifact").description(
    "Read what runs leave behind: markdown, table, link and progress artifacts (createMarkdownArtifact, … in the SDK)",
  );

  group
    .command("ls")
    .description(
      "List the newest version of each artifact key, newest first; a flow run's artifacts with --flow-run, every artifact with --all-versions",
    )
    .option("--all-versions", "every artifact, of every key and none, not only the newest of each key")
    .option("-k, --key <key>", "only this key's (with --all-versions: its history)", parseKey)
    .option("--flow-run <id>", "only this flow run's artifacts (all of them)", parseId("flow run"))
    .option("-t, --type <type>", `only this type (${ARTIFACT_TYPES.join(", ")})`, parseType)
    .option("-l, --limit <n>", "how many", parsePositive, 50)
    .option("--json", "print JSON")
    .action(async (options: ListOptions) => {
      const latest = !options.allVersions && !options.flowRun;
      const page = await apiClient().api.listArtifacts({
        query: {
          ...(latest ? { latest: "true" } : {}),
          ...(options.key ? { key: options.key } : {}),
          ...(options.flowRun ? { flowRunId: options.flowRun } : {}),
          ...(options.type ? { type: options.type } : {}),
          limit: Math.min(options.limit, 1000),
        },
      });
      if (options.json) return printJson(page.items);
      print(
        table(
          ["ID", "KEY", "TYPE", "FLOW RUN", "DATA", "CREATED"],
          page.items.map((artifact) => [
            artifact.id,
            artifact.key ?? "-",
            artifact.type,
            artifact.flowRunName ?? artifact.flowRunId ?? "-",
            preview(artifact),
            time(artifact.created),
          ]),
          latest
            ? "No artifact keys; create one with createMarkdownArtifact({ key, markdown }) in a flow, or list every artifact with --all-versions."
            : "No artifacts.",
        ),
      );
      if (page.nextOffset !== null) print(`More artifacts than ${options.limit}: raise --limit to see them.`);
    });

  group
    .command("inspect")
    .description("Show an artifact, by id or the newest version of a key, with its data in full")
    .argument("<key-or-id>", "an artifact key or an artifact id")
    .option("--json", "print JSON")
    .action(async (keyOrId: string, options: { json?: boolean }) => {
      const artifact = await artifactOf(apiClient(), keyOrId);
      if (options.json) return printJson(artifact);
      print(
        details([
          ["Id", artifact.id],
          ["Key", artifact.key ?? "-"],
          ["Type", artifact.type],
          ["Description", artifact.description ?? "-"],
          [
            "Flow run",
            artifact.flowRunId ? `${artifact.flowRunName ?? "(deleted)"} (${artifact.flowRunId})` : "-",
          ],
          ["Task run", artifact.taskRunId ?? "-"],
          ["Created", time(artifact.created)],
          ["Updated", time(artifact.updated)],
        ]),
      );
      print(`\n${body(artifact)}`);
      if (artifact.key) print(`\nIts versions: baton artifact ls --all-versions --key ${artifact.key}`);
    });

  group
    .command("delete")
    .description("Delete an artifact by id, or every version of a key")
    .argument("<key-or-id>", "an artifact key or an artifact id")
    .action(async (keyOrId: string) => {
      const { api } = apiClient();
      if (isId(keyOrId)) {
        await api.deleteArtifact({ params: { id: keyOrId } });
        return print(`Deleted artifact ${keyOrId}.`);
      }
      const { deleted } = await api.deleteArtifactKey({ params: { key: parseKey(keyOrId) } });
      print(`Deleted ${deleted} version(s) of artifact key '${keyOrId}'.`);
    });
  return group;
}
