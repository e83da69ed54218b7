/** What a benchmark is, as bench/run.ts sees it. */

export interface BenchmarkOptions {
  /** `--full`: the full-size pass of the figures; otherwise a quick pass. */
  full: boolean;
  /** Every other `--key[=value]` option, for the benchmark to read (`--key` alone is "true"). */
  flags: ReadonlyMap<string, string>;
  /** Progress lines go to stderr, so stdout holds only the report. */
  progress(message: string): void;
}

export interface ReportTable {
  title: string;
  header: string[];
  rows: string[][];
}

export interface BenchmarkReport {
  /** Settings the numbers depend on (task count, repetitions, …). */
  parameters: Record<string, unknown>;
  /** Lines printed above the tables: how it was measured, what to keep in mind. */
  notes: string[];
  tables: ReportTable[];
  /** Everything measured, written to the JSON result file. */
  data: unknown;
}

export interface Benchmark {
  name: string;
  title: string;
  run(options: BenchmarkOptions): Promise<BenchmarkReport>;
}
