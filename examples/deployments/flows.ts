// Flows to deploy: a module that only declares and exports them, so a worker can import it.
import { z } from "zod";
import { flow, task } from "@baton/sdk";

const measure = task({ name: "measure", retries: 2 }, async (city: string) => city.length * 3.5);

export const weatherReport = flow(
  {
    name: "weather-report",
    retries: 1,
    parameters: z.object({
      cities: z.array(z.string()).min(1),
      // JSON carries dates as strings; the flow gets a real Date (today when left out).
      day: z.coerce.date().default(() => new Date()),
      unit: z.enum(["celsius", "fahrenheit"]).default("celsius"),
    }),
  },
  async ({ cities, day, unit }, { logger }) => {
    logger.info(`report for ${day.toISOString().slice(0, 10)} in ${unit}`);
    const readings = await Promise.all(cities.map((city) => measure(city)));
    return Object.fromEntries(cities.map((city, i) => [city, readings[i]]));
  },
);
