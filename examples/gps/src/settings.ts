import { setTimeout as sleep } from "node:timers/promises";

/** GPS_SLEEP_SCALE scales every simulated wait (1 by default; tests use 0.01). */
const scale = Number(process.env.GPS_SLEEP_SCALE ?? 1);

export const pause = (seconds: number, signal?: AbortSignal): Promise<void> =>
  sleep(seconds * 1000 * scale, undefined, signal ? { signal } : {});

/** GPS_PORT overrides a server's gRPC port. */
export const grpcPort = (fallback: number): number => Number(process.env.GPS_PORT ?? fallback);
