/** Stable error codes shared by the API, the client, the SDK and the CLI. */
export const ErrorCode = {
  InvalidArgument: "invalid_argument",
  NotFound: "not_found",
  AlreadyExists: "already_exists",
  Conflict: "conflict",
  Unauthenticated: "unauthenticated",
  PermissionDenied: "permission_denied",
  Unavailable: "unavailable",
  Aborted: "aborted",
  Timeout: "timeout",
  Cancelled: "cancelled",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  aborted: 409,
  timeout: 504,
  cancelled: 499,
  unavailable: 503,
  internal: 500,
};

const TITLES: Record<ErrorCode, string> = {
  invalid_argument: "Invalid request",
  unauthenticated: "Unauthenticated",
  permission_denied: "Permission denied",
  not_found: "Not found",
  already_exists: "Already exists",
  conflict: "Conflict",
  aborted: "Aborted",
  timeout: "Timed out",
  cancelled: "Cancelled",
  unavailable: "Unavailable",
  internal: "Internal error",
};

/** One field that failed validation: a dotted path and what was wrong with it. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** RFC 9457 problem document, as every API error is answered. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  issues?: FieldIssue[];
}

/** The one error family of Baton: a stable code, a message that says what to do, the cause kept. */
export class BatonError extends Error {
  override readonly name: string = "BatonError";
  readonly code: ErrorCode;
  readonly issues: FieldIssue[] | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; issues?: FieldIssue[] } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.issues = options.issues;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toProblem(): ProblemDocument {
    return {
      type: `https://baton.dev/problems/${this.code}`,
      title: TITLES[this.code],
      status: this.httpStatus,
      detail: this.message,
      code: this.code,
      ...(this.issues ? { issues: this.issues } : {}),
    };
  }

  static fromProblem(problem: ProblemDocument): BatonError {
    return new BatonError(problem.code, problem.detail, problem.issues ? { issues: problem.issues } : {});
  }

  /** Wraps anything thrown into a BatonError, keeping it as the cause. */
  static from(error: unknown): BatonError {
    if (error instanceof BatonError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new BatonError("internal", message, { cause: error });
  }
}

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === "string" && value in HTTP_STATUS;

export function notFound(kind: string, key: string): BatonError {
  return new BatonError("not_found", `${kind} '${key}' does not exist`);
}

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}
