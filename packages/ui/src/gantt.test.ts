import { describe, expect, it } from "vitest";
import { axisTicks, MIN_BAR_WIDTH, placeBar, timeWindow } from "./gantt.js";

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 23, 10, 0, seconds)).toISOString();
const now = Date.parse(at(30));

describe("the run timeline's layout", () => {
  it("spans from the first start to the last end, leaving out what has not started", () => {
    const window = timeWindow(
      [
        { start: at(10), end: at(15) },
        { start: at(5), end: at(20) },
        { start: null, end: null },
      ],
      now,
    );
    expect(window).toEqual({ from: Date.parse(at(5)), to: Date.parse(at(20)) });
    expect(timeWindow([{ start: null, end: null }], now)).toBeNull();
  });

  it("reaches to now while something still runs", () => {
    const window = timeWindow(
      [
        { start: at(10), end: at(12) },
        { start: at(20), end: null },
      ],
      now,
    );
    expect(window).toEqual({ from: Date.parse(at(10)), to: now });
    const running = placeBar({ start: at(20), end: null }, window!, now);
    expect(running).toEqual({ offset: 0.5, width: 0.5 });
  });

  it("takes a running span's start as its end while the browser's clock is behind", () => {
    const early = Date.parse(at(10));
    const window = timeWindow(
      [
        { start: at(0), end: at(5) },
        { start: at(20), end: null },
      ],
      early,
    );
    expect(window).toEqual({ from: Date.parse(at(0)), to: Date.parse(at(20)) });
    expect(placeBar({ start: at(20), end: null }, window!, early)).toEqual({
      offset: 1 - MIN_BAR_WIDTH,
      width: MIN_BAR_WIDTH,
    });
  });

  it("places each bar as fractions of the window, never too thin to see", () => {
    const window = { from: Date.parse(at(0)), to: Date.parse(at(20)) };
    expect(placeBar({ start: at(5), end: at(10) }, window, now)).toEqual({ offset: 0.25, width: 0.25 });
    expect(placeBar({ start: at(20), end: at(20) }, window, now)).toEqual({
      offset: 1 - MIN_BAR_WIDTH,
      width: MIN_BAR_WIDTH,
    });
    expect(placeBar({ start: null, end: null }, window, now)).toBeNull();
    // A single instant still makes a window.
    expect(timeWindow([{ start: at(3), end: at(3) }], now)).toEqual({
      from: Date.parse(at(3)),
      to: Date.parse(at(3)) + 1,
    });
  });

  it("labels the axis with the time since the window's start", () => {
    const ticks = axisTicks({ from: 0, to: 8000 });
    expect(ticks.map((tick) => tick.at)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(ticks.map((tick) => tick.label)).toEqual(["0s", "+2.0s", "+4.0s", "+6.0s", "+8.0s"]);
  });
});
