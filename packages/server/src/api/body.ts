/**
 * Bad input stops at the edge: JSON nested too deeply, NUL characters (PostgreSQL text cannot hold
 * them), stored fields over their size limits and over-long request heads are refused with a problem
 * document that names the field, the limit and the setting that raises it, before any handler runs.
 */
import { STATUS_CODES, maxHeaderSize } from "node:http";
import type { Socket } from "node:net";
import type { ConnectionError, FastifyInstance, FastifyRequest } from "fastify";
import { BatonError, type ErrorCode, type ProblemDocument, type RouteName } from "@baton/core";

/** What a request may carry; the server's settings fill these (see settings.ts). */
export interface InputLimits {
  /** How deeply arrays and objects may nest in a JSON body. */
  maxJsonDepth: number;
  /** A flow run's or deployment's parameters, as JSON. */
  maxParametersBytes: number;
  /** A run's labels, as JSON. */
  maxLabelsBytes: number;
  /** A deployment's or run's job variables, as JSON. */
  maxJobVariablesBytes: number;
  /** A state's data (an inline result or a serialized error), as JSON. */
  maxResultBytes: number;
  /** One log line's message. */
  maxLogLineBytes: number;
  /** A custom event's payload (`POST /api/events`, webhooks), as JSON. */
  maxEventPayloadBytes: number;
  /** An artifact's data (markdown, table rows, a link), as JSON. */
  maxArtifactBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_INPUT_LIMITS: InputLimits = {
  maxJsonDepth: 64,
  maxParametersBytes: MiB,
  maxLabelsBytes: 64 * KiB,
  maxJobVariablesBytes: 64 * KiB,
  maxResultBytes: MiB,
  maxLogLineBytes: 64 * KiB,
  maxEventPayloadBytes: 256 * KiB,
  maxArtifactBytes: MiB,
};

type SizeLimit = Exclude<keyof InputLimits, "maxJsonDepth">;

const SIZE_LIMITS: Record<SizeLimit, { setting: string; hint: string }> = {
  maxParametersBytes: {
    setting: "BATON_MAX_PARAMETERS_BYTES",
    hint: "pass large inputs by reference (a path or URL)",
  },
  maxLabelsBytes: { setting: "BATON_MAX_LABELS_BYTES", hint: "keep labels to short keys and values" },
  maxJobVariablesBytes: {
    setting: "BATON_MAX_JOB_VARIABLES_BYTES",
    hint: "keep large configuration in the pool's base job template or a file",
  },
  maxResultBytes: {
    setting: "BATON_MAX_RESULT_BYTES",
    hint: "persist large results to result storage instead of inline",
  },
  maxLogLineBytes: { setting: "BATON_MAX_LOG_LINE_BYTES", hint: "split the message into several lines" },
  maxEventPayloadBytes: {
    setting: "BATON_MAX_EVENT_PAYLOAD_BYTES",
    hint: "send what automations need and refer to the rest (a path or URL)",
  },
  maxArtifactBytes: {
    setting: "BATON_MAX_ARTIFACT_BYTES",
    hint: "keep the full report elsewhere and link to it (a link artifact)",
  },
};

/**
 * Where each operation's body carries something that is stored, and the limit it is held to.
 * A path is dotted field names; `*` is every item of a list.
 */
const STORED_FIELDS: Partial<Record<RouteName, [path: string, limit: SizeLimit][]>> = {
  createFlowRun: [
    ["parameters", "maxParametersBytes"],
    ["labels", "maxLabelsBytes"],
    ["state.data", "maxResultBytes"],
  ],
  createDeploymentRun: [
    ["parameters", "maxParametersBytes"],
    ["labels", "maxLabelsBytes"],
    ["jobVariables", "maxJobVariablesBytes"],
    ["state.data", "maxResultBytes"],
  ],
  createTaskRun: [
    ["labels", "maxLabelsBytes"],
    ["state.data", "maxResultBytes"],
  ],
  setFlowRunState: [["state.data", "maxResultBytes"]],
  setFlowRunStates: [["proposals.*.state.data", "maxResultBytes"]],
  setTaskRunState: [["state.data", "maxResultBytes"]],
  recordTaskRuns: [["*.states.*.data", "maxResultBytes"]],
  createLogs: [["*.message", "maxLogLineBytes"]],
  createDeployment: [
    ["parameters", "maxParametersBytes"],
    ["jobVariables", "maxJobVariablesBytes"],
  ],
  updateDeployment: [
    ["parameters", "maxParametersBytes"],
    ["jobVariables", "maxJobVariablesBytes"],
  ],
  createEvent: [["payload", "maxEventPayloadBytes"]],
  createWebhook: [["template", "maxEventPayloadBytes"]],
  updateWebhook: [["template", "maxEventPayloadBytes"]],
  createAutomation: [["actions.*.parameters", "maxParametersBytes"]],
  updateAutomation: [["actions.*.parameters", "maxParametersBytes"]],
  createArtifact: [["data", "maxArtifactBytes"]],
  updateArtifact: [["data", "maxArtifactBytes"]],
};

/** A problem answered with an HTTP status of its own (413, 431) rather than its code's. */
class StatusError extends BatonError {
  constructor(
    private readonly status: number,
    message: string,
    options: ConstructorParameters<typeof BatonError>[2] = {},
    code: ErrorCode = "invalid_argument",
  ) {
    super(code, message, options);
  }

  override get httpStatus(): number {
    return this.status;
  }
}

const fieldError = (path: string, message: string, status = 400): BatonError =>
  new StatusError(status, `${path} ${message}`, { issues: [{ path, message }] });

const NUL = "\u0000";
const NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored; remove it";

/** The first string or key under `root` that holds a NUL, as an error naming it; iterative, as input may nest deeply. */
function findNul(root: unknown, rootPath: string): BatonError | undefined {
  const stack: [unknown, string][] = [[root, rootPath]];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === "string") {
      if (value.includes(NUL)) return fieldError(path, NUL_MESSAGE);
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push([item, `${path}.${index}`]));
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        // JSON.stringify shows the NUL as \u0000 instead of writing it into the message.
        if (key.includes(NUL))
          return fieldError(path, `has a key ${JSON.stringify(key)} that ${NUL_MESSAGE}`);
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON text nests arrays and objects deeper than `limit`, read without parsing (parsers and
 * validators recurse, and 10,000 levels overflow their stack). Strings are skipped with indexOf, so
 * the loop only visits the text between them.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === QUOTE) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return false; // an unterminated string: JSON.parse says so
      i = end;
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** A quote after an odd number of backslashes is part of the string. */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
  return backslashes % 2 === 1;
}

/** The values at a dotted path with `*` for list items, each with its full path. */
function valuesAt(body: unknown, path: string): [unknown, string][] {
  let found: [unknown, string][] = [[body, "body"]];
  for (const step of path.split(".")) {
    const next: [unknown, string][] = [];
    for (const [value, at] of found) {
      if (step === "*") {
        if (Array.isArray(value)) value.forEach((item, index) => next.push([item, `${at}.${index}`]));
      } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        const item = (value as Record<string, unknown>)[step];
        if (item !== undefined && item !== null) next.push([item, `${at}.${step}`]);
      }
    }
    found = next;
  }
  return found;
}

/** Size as stored: a string's UTF-8 bytes, anything else's JSON. */
const byteSize = (value: unknown): number =>
  Buffer.byteLength(typeof value === "string" ? value : JSON.stringify(value));

function oversizeField(route: RouteName, body: unknown, limits: InputLimits): BatonError | undefined {
  for (const [path, limitName] of STORED_FIELDS[route] ?? []) {
    const limit = limits[limitName];
    for (const [value, at] of valuesAt(body, path)) {
      const size = byteSize(value);
      if (size <= limit) continue;
      const { setting, hint } = SIZE_LIMITS[limitName];
      return fieldError(
        at,
        `is ${size} bytes, over the server's limit of ${limit} bytes: ${hint}, or raise ${setting} on the server`,
        413,
      );
    }
  }
  return undefined;
}

function nulInUrl(request: FastifyRequest): BatonError | undefined {
  return findNul(request.params, "params") ?? findNul(request.query, "query");
}

/**
 * Installs the JSON body parser and the checks of query, path and stored fields on `app`; the
 * parser's errors and the checks' go to the app's error handler like any other.
 */
export function guardInput(app: FastifyInstance, limits: InputLimits = DEFAULT_INPUT_LIMITS): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, raw, done) => {
    const text = raw as string; // parseAs: "string"
    if (nestsDeeperThan(text, limits.maxJsonDepth)) {
      const message = `nests arrays and objects deeper than ${limits.maxJsonDepth} levels: flatten it, or raise BATON_MAX_JSON_DEPTH on the server`;
      done(fieldError("body", message));
      return;
    }
    void parseJson(request, text, (error, body: unknown) => {
      // A NUL in a JSON string is always written \u0000; without that text there is nothing to look for.
      if (error || !text.includes("\\u0000")) return done(error, body);
      done(findNul(body, "body") ?? null, body);
    });
  });

  const bodyLimit = app.initialConfig.bodyLimit ?? MiB;
  app.addHook("preParsing", (request, _reply, payload, done) => {
    // Said before reading the body; a body without a length is stopped by Fastify at the same limit.
    const length = Number(request.headers["content-length"]);
    if (length > bodyLimit) {
      const message = `is ${length} bytes, over the server's limit of ${bodyLimit} bytes: send less in one request (split a batch)`;
      done(fieldError("body", message, 413));
      return;
    }
    done(null, payload);
  });

  const smallestLimit = Math.min(...Object.keys(SIZE_LIMITS).map((name) => limits[name as SizeLimit]));
  app.addHook("preValidation", (request, _reply, done) => {
    // A NUL reaches a path or query value only as %00: the raw byte is refused by Node's parser.
    const inUrl = request.url.includes("%00") ? nulInUrl(request) : undefined;
    if (inUrl) return done(inUrl);
    const route = (request.routeOptions.schema as { operationId?: RouteName } | undefined)?.operationId;
    // No field can be larger than the whole body.
    const length = Number(request.headers["content-length"]);
    if (!route || !STORED_FIELDS[route] || length <= smallestLimit) return done();
    done(oversizeField(route, request.body, limits));
  });
}

/** The problem document for a request Node's HTTP parser refused before Fastify saw it. */
function clientProblem(error: ConnectionError): ProblemDocument {
  if (error.code === "HPE_HEADER_OVERFLOW") {
    const message = `the request's URL and headers are larger than the server's limit of ${maxHeaderSize} bytes: shorten the query string, or send the data in a request body`;
    return new StatusError(431, message).toProblem();
  }
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return new StatusError(
      408,
      "the request took too long to arrive: send it again",
      {},
      "timeout",
    ).toProblem();
  }
  const message = `the server could not parse this HTTP request (${error.code ?? error.message}): check the client's URL and headers`;
  return new StatusError(400, message).toProblem();
}

/**
 * Answers the requests Node's HTTP parser refuses (a head over its size limit: 431; malformed: 400;
 * too slow: 408) with problem documents, as Fastify's default handler answers them with plain JSON.
 */
export function answerClientError(this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  this.log.debug({ err: error }, "refused a malformed request");
  if (socket.writable) {
    const problem = clientProblem(error);
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
