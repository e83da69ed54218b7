import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { BatonError } from "@baton/core";

/** Where in a repository to check out: a branch's newest commit, a commit, or the default branch's. */
export interface GitRevision {
  branch?: string;
  commit?: string;
}

/**
 * Clones kept by repository under one folder (a bare mirror each), so that a run of a commit already
 * fetched neither clones nor fetches: its working copy is a worktree of the cached clone, made in
 * milliseconds. A branch is looked up with `git ls-remote` (no download) to know its commit. Runs of
 * one worker take their turns on a repository; the first clone goes to a temporary name and is
 * renamed, so that a clone cut short is never taken for a cached one.
 */
export class GitCache {
  readonly #turns = new Map<string, Promise<unknown>>();

  constructor(readonly directory: string) {}

  /**
   * Checks out `revision` of `repository` at `into`, saying what it does (cloning, fetching, or
   * using the cache) through `say`. `auth` is the environment that carries the credentials to git;
   * it is never shown. Resolves with the commit checked out.
   */
  async checkout(
    repository: string,
    revision: GitRevision,
    into: string,
    say: (line: string) => void,
    auth: Record<string, string> = {},
  ): Promise<string> {
    const git = (args: string[], cwd?: string) => run(args, { cwd, env: auth });
    const wanted = revision.commit ?? (await headOf(repository, revision.branch, git));
    const clone = join(this.directory, `${slug(repository)}.git`);
    return this.#inTurn(clone, async () => {
      if (!existsSync(clone)) {
        say(`cloning ${repository} into the cache (${clone})`);
        await mkdir(this.directory, { recursive: true });
        const partial = `${clone}.${process.pid}.${Date.now()}.partial`;
        await git(["clone", "--mirror", "--quiet", repository, partial]);
        await rename(partial, clone);
      } else if (!(await hasCommit(clone, wanted, git))) {
        say(`fetching ${repository}: commit ${wanted} is not in the cache yet`);
        await git(["fetch", "--quiet", "--prune", "origin"], clone);
      } else {
        say(`commit ${wanted} of ${repository} is in the cache (${clone}): no clone`);
      }
      if (!(await hasCommit(clone, wanted, git))) {
        throw new BatonError("not_found", `${repository} has no commit ${wanted}`);
      }
      const commit = (await git(["rev-parse", "--verify", `${wanted}^{commit}`], clone)).trim();
      // Worktrees of runs that ended without removing theirs (a worker killed) are forgotten first.
      await git(["worktree", "prune"], clone);
      await git(["worktree", "add", "--detach", "--quiet", into, commit], clone);
      say(`checked out ${commit} at ${into}`);
      return commit;
    });
  }

  /** Forgets the worktrees whose folders are gone (the runs' folders, removed after each run). */
  async prune(repository: string): Promise<void> {
    const clone = join(this.directory, `${slug(repository)}.git`);
    if (existsSync(clone)) await this.#inTurn(clone, () => run(["worktree", "prune"], { cwd: clone }));
  }

  /** Runs `work` after the work queued before it on the same clone, whatever became of that. */
  #inTurn<T>(clone: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#turns.get(clone) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.#turns.set(clone, settled);
    void settled.then(() => {
      if (this.#turns.get(clone) === settled) this.#turns.delete(clone);
    });
    return next;
  }
}

type Git = (args: string[], cwd?: string) => Promise<string>;

/** The commit a branch (or the default branch) points to now, without downloading anything. */
async function headOf(repository: string, branch: string | undefined, git: Git): Promise<string> {
  const ref = branch === undefined ? "HEAD" : `refs/heads/${branch}`;
  const answer = await git(["ls-remote", repository, ref]);
  const commit = answer.split(/\s/)[0];
  if (!commit) {
    throw new BatonError(
      "not_found",
      branch === undefined
        ? `${repository} has no default branch`
        : `${repository} has no branch '${branch}'`,
    );
  }
  return commit;
}

const hasCommit = (clone: string, commit: string, git: Git): Promise<boolean> =>
  git(["cat-file", "-e", `${commit}^{commit}`], clone).then(
    () => true,
    () => false,
  );

/** A folder name for a repository: readable, and distinct for distinct URLs. */
export function slug(repository: string): string {
  const name = repoName(repository).replace(/[^A-Za-z0-9._-]/g, "-");
  return `${name}-${createHash("sha256").update(repository).digest("hex").slice(0, 12)}`;
}

/** `https://host/team/app.git` → `app`: the folder a clone goes to, as `git clone` names it. */
export function repoName(repository: string): string {
  const last =
    repository
      .replace(/[/\\]+$/, "")
      .split(/[/\\:]/)
      .pop() ?? "";
  return last.replace(/\.git$/, "") || "repository";
}

/** Runs git, never asking for a password on a terminal; fails with what git said on stderr. */
function run(args: string[], options: { cwd?: string; env?: Record<string, string> }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", ...options.env },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const said = stderr.trim().split("\n").filter(Boolean).slice(-3).join("; ");
        const why =
          (error as NodeJS.ErrnoException).code === "ENOENT"
            ? "git is not installed on the worker's machine"
            : said || error.message;
        reject(new BatonError("internal", `git ${args[0]} failed: ${why}`));
      },
    );
  });
}
