import {
  ArtifactKey,
  BatonError,
  type ArtifactCreate,
  type ArtifactData,
  type ArtifactType,
} from "@baton/core";
import { currentRun } from "./context.js";
import { requiredClient } from "./settings.js";

/** What every artifact may be given besides its data. */
export interface ArtifactOptions {
  /**
   * Names the artifact across runs (lowercase letters, digits and dashes): each artifact created with
   * a key is its newest version, which the Artifacts page and `baton artifact ls` show, with the others
   * as its history. Without one, the artifact is only its run's.
   */
  key?: string;
  /** Shown beside the artifact (markdown is not rendered here). */
  description?: string;
}

export interface MarkdownArtifactOptions extends ArtifactOptions {
  /** Markdown text; the dashboard renders it without any HTML it holds. */
  markdown: string;
}

export interface TableArtifactOptions extends ArtifactOptions {
  /** Rows: objects (their keys are the columns) or arrays (cells in order). */
  table: ArtifactData["table"];
}

export interface LinkArtifactOptions extends ArtifactOptions {
  /** An absolute URL; the dashboard makes a link of http, https and mailto ones. */
  link: string;
  /** The link's text; the URL itself when left out. */
  linkText?: string;
}

export interface ProgressArtifactOptions extends ArtifactOptions {
  /** A percentage from 0 to 100. */
  progress: number;
}

/**
 * Creates an artifact on the run's server: inside a tracked run, the flow run's (and the task run's,
 * inside a task); elsewhere, belonging to no run, on the server at BATON_API_URL. Answers its id.
 */
async function createArtifact<T extends ArtifactType>(
  type: T,
  data: ArtifactData[T],
  { key, description }: ArtifactOptions,
): Promise<string> {
  if (key !== undefined && !ArtifactKey.safeParse(key).success) {
    throw new BatonError(
      "invalid_argument",
      `artifact key '${key}' may hold only lowercase letters, digits and dashes (at most 200)`,
    );
  }
  const run = currentRun();
  // An untracked run's ids are its own: the server knows nothing of them.
  const tracked = run?.client ? run : undefined;
  const client = tracked?.client ?? requiredClient(`a ${type} artifact`);
  const body = {
    type,
    data,
    ...(key !== undefined ? { key } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(tracked?.flowRunId ? { flowRunId: tracked.flowRunId } : {}),
    ...(tracked?.taskRunId ? { taskRunId: tracked.taskRunId } : {}),
  } as ArtifactCreate;
  return (await client.api.createArtifact({ body })).id;
}

/** A markdown artifact (Prefect's `create_markdown_artifact`): a report people read on the dashboard. */
export const createMarkdownArtifact = ({ markdown, ...options }: MarkdownArtifactOptions) =>
  createArtifact("markdown", markdown, options);

/** A table artifact (Prefect's `create_table_artifact`). */
export const createTableArtifact = ({ table, ...options }: TableArtifactOptions) =>
  createArtifact("table", table, options);

/** A link artifact (Prefect's `create_link_artifact`): where the run's output is. */
export const createLinkArtifact = ({ link, linkText, ...options }: LinkArtifactOptions) =>
  createArtifact("link", { link, ...(linkText !== undefined ? { linkText } : {}) }, options);

/**
 * A progress artifact (Prefect's `create_progress_artifact`): a bar the run moves on with
 * `updateProgressArtifact(id, progress)`. Answers its id.
 */
export const createProgressArtifact = ({ progress, ...options }: ProgressArtifactOptions) =>
  createArtifact("progress", progress, options);

/** Moves progress artifact `id` to `progress` (0 to 100), in place: not a new version of its key. */
export async function updateProgressArtifact(id: string, progress: number): Promise<void> {
  const client = currentRun()?.client ?? requiredClient(`progress artifact ${id}`);
  await client.api.updateArtifact({ params: { id }, body: { data: progress } });
}
