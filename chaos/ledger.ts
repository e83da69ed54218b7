// The external ledger the chaos flows write to: what their code did, as seen from outside Baton.
// One append-only file per execution (a process carrying out an attempt of a run), one JSON line per
// entry, written synchronously so a SIGKILL loses nothing that was written.
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type LedgerEvent = "start" | "step" | "slot" | "unslot" | "end";

export interface LedgerEntry {
  /** Wall-clock milliseconds (every process runs on this machine). */
  t: number;
  event: LedgerEvent;
  run: string;
  /** The flow run's attempt the process carries out. */
  attempt: number | null;
  pid: number;
  /** One execution of the flow's code: a process may carry out several runs (serve). */
  exec: string;
  /** The step's number, for `step`. */
  i?: number;
}

/** Where the flows write: the folder the chaos runner gives them in BATON_CHAOS_LEDGER. */
export const ledgerFolder = (): string => {
  const folder = process.env.BATON_CHAOS_LEDGER;
  if (!folder) throw new Error("BATON_CHAOS_LEDGER is not set: the chaos flows need a ledger folder");
  return folder;
};

/** The writing side, for one execution of a flow run's code. */
export class LedgerWriter {
  readonly exec = `${process.pid}-${randomBytes(4).toString("hex")}`;
  readonly #file: string;

  constructor(
    folder: string,
    readonly run: string,
    readonly attempt: number | null,
  ) {
    mkdirSync(folder, { recursive: true });
    this.#file = join(folder, `${run}.${this.exec}.jsonl`);
  }

  write(event: LedgerEvent, i?: number): void {
    const entry: LedgerEntry = {
      t: Date.now(),
      event,
      run: this.run,
      attempt: this.attempt,
      pid: process.pid,
      exec: this.exec,
      ...(i !== undefined ? { i } : {}),
    };
    appendFileSync(this.#file, `${JSON.stringify(entry)}\n`);
  }
}

/** Every entry written so far, in time order. A line cut short by a kill is skipped. */
export function readLedger(folder: string): LedgerEntry[] {
  let files: string[];
  try {
    files = readdirSync(folder).filter((name) => name.endsWith(".jsonl"));
  } catch {
    return [];
  }
  const entries: LedgerEntry[] = [];
  for (const file of files) {
    for (const line of readFileSync(join(folder, file), "utf8").split("\n")) {
      if (!line) continue;
      try {
        entries.push(JSON.parse(line) as LedgerEntry);
      } catch {
        // the last line of a killed process may be partial
      }
    }
  }
  return entries.sort((a, b) => a.t - b.t);
}

/** One execution's entries, in order. */
export interface Execution {
  exec: string;
  run: string;
  attempt: number | null;
  pid: number;
  entries: LedgerEntry[];
  /** Whether its code ran to its end. */
  ended: boolean;
}

export function executions(entries: LedgerEntry[]): Execution[] {
  const byExec = new Map<string, Execution>();
  for (const entry of entries) {
    let execution = byExec.get(entry.exec);
    if (!execution) {
      execution = {
        exec: entry.exec,
        run: entry.run,
        attempt: entry.attempt,
        pid: entry.pid,
        entries: [],
        ended: false,
      };
      byExec.set(entry.exec, execution);
    }
    execution.entries.push(entry);
    if (entry.event === "end") execution.ended = true;
  }
  return [...byExec.values()];
}
