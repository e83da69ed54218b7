import { z } from "zod";
import { Id, Limit, Offset, QueryBoolean, Timestamps } from "./common.js";

/**
 * What a run leaves behind for people to read, as Prefect's artifacts: a markdown report, a table, a
 * link, or a progress bar that the run moves on.
 */
export const ARTIFACT_TYPES = ["markdown", "table", "link", "progress"] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

/** A key names one artifact across runs: each artifact created with it is its newest version. */
export const ArtifactKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z0-9-]+$/, "an artifact key may hold only lowercase letters, digits and dashes");

const TableRow = z.union([z.record(z.string(), z.json()), z.array(z.json())]);

const LinkData = z.strictObject({
  /** An absolute URL; the dashboard links only http, https and mailto ones and shows the others as text. */
  link: z
    .string()
    .min(1)
    .max(2000)
    .refine((link) => URL.canParse(link), "must be an absolute URL, such as https://example.com/report"),
  linkText: z.string().min(1).max(500).optional(),
});

/** The data each type of artifact holds; an update of `data` is held to its artifact's type. */
export const ARTIFACT_DATA = {
  /** Markdown text; the dashboard renders it without any HTML it holds. */
  markdown: z.string().max(10_000_000),
  /** Rows: objects (their keys are the columns) or arrays (cells in order). */
  table: z.array(TableRow).max(100_000),
  link: LinkData,
  /** A percentage of work done. */
  progress: z
    .number()
    .min(0, "progress is a percentage from 0 to 100")
    .max(100, "progress is a percentage from 0 to 100"),
} as const satisfies Record<ArtifactType, z.ZodType>;

export type ArtifactData = { [T in ArtifactType]: z.infer<(typeof ARTIFACT_DATA)[T]> };

const Description = z.string().max(10_000).nullish();

/** Where an artifact was created: a flow run, one of its task runs, or none (created outside a run). */
const Owners = { flowRunId: Id.nullish(), taskRunId: Id.nullish() };

const createOf = <T extends ArtifactType>(type: T) =>
  z.strictObject({
    type: z.literal(type),
    data: ARTIFACT_DATA[type],
    key: ArtifactKey.nullish(),
    description: Description,
    ...Owners,
  });

export const ArtifactCreate = z.discriminatedUnion("type", [
  createOf("markdown"),
  createOf("table"),
  createOf("link"),
  createOf("progress"),
]);
export type ArtifactCreate = z.input<typeof ArtifactCreate>;

/** A change of an artifact in place (a progress artifact's progress, most often), not a new version. */
export const ArtifactUpdate = z.strictObject({
  /** Held to the artifact's type, as on creation. */
  data: z.json().optional(),
  description: Description,
});
export type ArtifactUpdate = z.input<typeof ArtifactUpdate>;

const artifactOf = <T extends ArtifactType>(type: T) =>
  z.object({
    id: Id,
    type: z.literal(type),
    data: ARTIFACT_DATA[type],
    key: z.string().nullable(),
    description: z.string().nullable(),
    flowRunId: Id.nullable(),
    /** The flow run's name, while the run exists. */
    flowRunName: z.string().nullable(),
    taskRunId: Id.nullable(),
    ...Timestamps,
  });

export const Artifact = z.discriminatedUnion("type", [
  artifactOf("markdown"),
  artifactOf("table"),
  artifactOf("link"),
  artifactOf("progress"),
]);
export type Artifact = z.infer<typeof Artifact>;

/** Artifacts newest first. */
export const ArtifactQuery = z.strictObject({
  flowRunId: Id.optional(),
  taskRunId: Id.optional(),
  key: ArtifactKey.optional(),
  type: z.enum(ARTIFACT_TYPES).optional(),
  /** Only the newest version of each key (artifacts without a key are left out). */
  latest: QueryBoolean.optional(),
  limit: Limit,
  offset: Offset,
});
export type ArtifactQuery = z.input<typeof ArtifactQuery>;

export const ByArtifactKey = z.strictObject({ key: ArtifactKey });
export const ArtifactVersionsQuery = z.strictObject({ limit: Limit, offset: Offset });

export const ArtifactsDeleted = z.object({ deleted: z.number().int() });
