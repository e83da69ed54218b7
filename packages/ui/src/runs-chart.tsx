import { STATE_TYPES, type StateType } from "@baton/core";
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { stateLabel } from "./format.js";
import { HOUR_MS, type HourBucket } from "./run-buckets.js";

const HEIGHT = 220;

const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** The theme's colors, read when the chart is drawn, so that it follows light and dark alike. */
function cssColor(element: Element, name: string): string {
  return getComputedStyle(element).getPropertyValue(name).trim() || "gray";
}

/**
 * uPlot has no stacked bars of its own: each series is drawn as a bar from zero up to the running
 * total of the states below it, tallest first, so that each shorter bar paints over its lower part.
 */
function chartData(buckets: HourBucket[], types: StateType[]): uPlot.AlignedData {
  const x = buckets.map((bucket) => (bucket.start + HOUR_MS / 2) / 1000);
  const running = buckets.map(() => 0);
  const stacked = types.map((type) =>
    buckets.map((bucket, index) => (running[index] = (running[index] ?? 0) + bucket.counts[type])),
  );
  return [x, ...stacked.reverse()];
}

function chartOptions(
  element: HTMLElement,
  buckets: HourBucket[],
  types: StateType[],
  onHover: (index: number | null) => void,
): uPlot.Options {
  const muted = cssColor(element, "--muted");
  const grid = cssColor(element, "--border");
  const bars = uPlot.paths.bars?.({ size: [0.8, 48], gap: 1 });
  const first = (buckets[0]?.start ?? 0) / 1000;
  const end = ((buckets.at(-1)?.start ?? 0) + HOUR_MS) / 1000;
  return {
    width: element.clientWidth,
    height: HEIGHT,
    legend: { show: false },
    cursor: { y: false, points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: [first, end] },
      y: { range: (_plot, _min, max) => [0, Math.max(1, max)] },
    },
    axes: [
      { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
      {
        stroke: muted,
        grid: { stroke: grid, width: 1 },
        ticks: { show: false },
        // Whole runs only, up to the hours of a busy server's.
        incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000],
      },
    ],
    series: [
      {},
      ...[...types].reverse().map((type) => {
        const color = cssColor(element, `--${type.toLowerCase()}-fg`);
        return {
          label: stateLabel(type),
          stroke: color,
          fill: color,
          width: 0,
          paths: bars,
          points: { show: false },
        };
      }),
    ],
    hooks: {
      setCursor: [
        (plot: uPlot) => {
          const index = plot.cursor.idx;
          onHover(index === null || index === undefined ? null : index);
        },
      ],
    },
  };
}

/** A state's color, as in the chart. */
export function Swatch({ type }: { type: StateType }) {
  return (
    <span className="swatch" style={{ background: `var(--${type.toLowerCase()}-fg)` }} aria-hidden="true" />
  );
}

function Readout({ bucket, types }: { bucket: HourBucket | undefined; types: StateType[] }) {
  if (!bucket) return <p className="chart-readout muted">Point at a bar to see its runs.</p>;
  const present = types.filter((type) => bucket.counts[type] > 0);
  return (
    <p className="chart-readout">
      <strong>
        {hourFormat.format(bucket.start)}–{hourFormat.format(bucket.start + HOUR_MS)}
      </strong>
      {present.length === 0
        ? " no runs"
        : present.map((type) => (
            <span key={type} className="chart-count">
              <Swatch type={type} />
              {bucket.counts[type]} {stateLabel(type)}
            </span>
          ))}
    </p>
  );
}

/** Runs per hour as bars stacked by state; the readout under it names the counts of the hour pointed at. */
export function RunsChart({ buckets, description }: { buckets: HourBucket[]; description: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [hovered, setHovered] = useState<number | null>(null);
  const types = STATE_TYPES.filter((type) => buckets.some((bucket) => bucket.counts[type] > 0));

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    // Drawn anew when the data changes: 24 bars cost nothing, and the set of states may have changed.
    const plot = new uPlot(
      chartOptions(element, buckets, types, setHovered),
      chartData(buckets, types),
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
    // `types` is derived from `buckets`.
  }, [buckets]);

  return (
    <figure className="chart">
      <div ref={box} className="chart-canvas" role="img" aria-label={description} />
      <Readout bucket={hovered === null ? undefined : buckets[hovered]} types={types} />
    </figure>
  );
}
