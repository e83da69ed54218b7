import { randomUUID } from "node:crypto";
import type { EventName } from "@baton/core";
import type { FastifyBaseLogger } from "fastify";
import type { ServerSettings } from "../settings.js";
import type { StoreContext } from "../store/context.js";
import { holdLease, releaseLeases } from "../store/leases.js";

/** A background service: one pass over the store, repeated every loop and on the events it wakes on. */
export interface Service {
  name: string;
  runOnce(now: Date): Promise<void>;
  /** Event names that make the service run again at once (a new schedule, say), or a test of a name. */
  wakeOn?: readonly EventName[] | ((name: string) => boolean);
  /**
   * Events within this long after the first are handled in one pass: a busy server's state changes
   * then cost the service a pass per batch, not one per event. @default 0
   */
  wakeDelayMs?: number;
}

export type ServiceFactory = (ctx: StoreContext, settings: ServerSettings) => Service;

export interface RunningServices {
  stop(): Promise<void>;
}

/**
 * Runs each service in a loop of its own; a pass never overlaps the previous one, and a failing
 * pass is logged and tried again next loop (the store may be briefly unavailable). With several
 * servers on one database, each service runs on the one that holds its lease (store/leases.ts):
 * renewed by the first pass a loop's time (or a third of the lease) after the last renewal, taken over
 * by another server once it runs out (three loops, 15 s at least).
 */
export function startServices(
  ctx: StoreContext,
  settings: ServerSettings,
  factories: readonly ServiceFactory[],
  log: FastifyBaseLogger,
): RunningServices {
  const holder = randomUUID();
  const leaseSeconds = Math.max(15, settings.serviceLoopSeconds * 3);
  // Renewed at most this often: a busy server's passes come every few milliseconds.
  const renewEveryMs = Math.min(settings.serviceLoopSeconds, leaseSeconds / 3) * 1000;
  const loops = factories.map((factory) => {
    const service = factory(ctx, settings);
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    let again = false;
    let stopped = false;
    /** When this server last took or renewed the service's lease, by both clocks. */
    let renewed = { monotonic: -Infinity, wall: -Infinity };
    const holding = async (): Promise<boolean> => {
      // Taken less than a renewal's gap ago by both clocks (the monotonic one stands still while the
      // machine sleeps, the wall clock may step): still this server's, nobody may take it before it
      // runs out.
      const asked = { monotonic: performance.now(), wall: Date.now() };
      const since = [asked.monotonic - renewed.monotonic, asked.wall - renewed.wall];
      if (since.every((gap) => gap >= 0 && gap < renewEveryMs)) return true;
      const held = await holdLease(ctx, service.name, holder, leaseSeconds);
      renewed = held ? asked : { monotonic: -Infinity, wall: -Infinity };
      return held;
    };
    const pass = (): void => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      clearTimeout(timer);
      running = holding()
        .then((held) => (held ? service.runOnce(new Date()) : undefined))
        .catch((error: unknown) => log.error({ err: error }, `service ${service.name} failed`))
        .finally(() => {
          running = undefined;
          if (stopped) return;
          if (again) {
            again = false;
            setImmediate(pass);
          } else {
            timer = setTimeout(pass, settings.serviceLoopSeconds * 1000);
          }
        });
    };
    const names = new Set<string>(typeof service.wakeOn === "function" ? [] : (service.wakeOn ?? []));
    const wakesOn = typeof service.wakeOn === "function" ? service.wakeOn : (name: string) => names.has(name);
    let wakeTimer: NodeJS.Timeout | undefined;
    const wake = (): void => {
      if (!service.wakeDelayMs) return pass();
      wakeTimer ??= setTimeout(() => {
        wakeTimer = undefined;
        pass();
      }, service.wakeDelayMs);
    };
    const unsubscribe = service.wakeOn
      ? ctx.events.subscribe((event) => wakesOn(event.name) && wake())
      : () => undefined;
    pass();
    return {
      stop: async () => {
        stopped = true;
        unsubscribe();
        clearTimeout(timer);
        clearTimeout(wakeTimer);
        await running;
      },
    };
  });
  return {
    stop: async () => {
      await Promise.all(loops.map((loop) => loop.stop()));
      await releaseLeases(ctx, holder).catch(() => undefined); // they run out by themselves otherwise
    },
  };
}
