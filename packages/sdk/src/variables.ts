import type { BatonClient } from "@baton/client";
import { BatonError, type Variable } from "@baton/core";
import { requiredClient } from "./settings.js";

/** What a variable holds: any JSON value (a string, number, boolean, null, array or object). */
export type VariableValue = Variable["value"];

export interface SetVariableOptions {
  /** Replace the value of a variable that already exists; without it, setting one is refused. */
  overwrite?: boolean;
  /** The variable's tags; an overwrite without tags keeps the ones it has. */
  tags?: string[];
}

/** Named JSON values kept by the server, for flows to read their configuration from (Prefect's Variable). */
export interface Variables {
  /** The value of variable `name`, or undefined when there is none. */
  get(name: string): Promise<VariableValue | undefined>;
  /** The value of variable `name`, or `defaultValue` when there is none. */
  get<D>(name: string, defaultValue: D): Promise<VariableValue | D>;
  /** Creates variable `name`; replaces its value only with `overwrite`. Answers the variable as stored. */
  set(name: string, value: VariableValue, options?: SetVariableOptions): Promise<Variable>;
  /** Deletes variable `name`: true if it existed. */
  unset(name: string): Promise<boolean>;
}

const isNotFound = (error: unknown) => error instanceof BatonError && error.code === "not_found";

function variablesUsing(clientFor: (name: string) => BatonClient): Variables {
  async function get<D>(name: string, defaultValue?: D): Promise<VariableValue | D | undefined> {
    try {
      return (await clientFor(name).api.readVariable({ params: { name } })).value;
    } catch (error) {
      if (isNotFound(error)) return defaultValue;
      throw error;
    }
  }

  async function set(
    name: string,
    value: VariableValue,
    options: SetVariableOptions = {},
  ): Promise<Variable> {
    const { api } = clientFor(name);
    const tags = options.tags ? { tags: options.tags } : {};
    try {
      // Create first and fall back to an update: no window between a read and a write.
      return await api.createVariable({ body: { name, value, ...tags } });
    } catch (error) {
      if (!(error instanceof BatonError && error.code === "already_exists")) throw error;
      if (!options.overwrite) {
        throw new BatonError(
          "already_exists",
          `variable '${name}' already exists: set it with overwrite to replace its value`,
          { cause: error },
        );
      }
      return api.updateVariable({ params: { name }, body: { value, ...tags } });
    }
  }

  async function unset(name: string): Promise<boolean> {
    try {
      await clientFor(name).api.deleteVariable({ params: { name } });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  return { get, set, unset };
}

/** Variables on the server at BATON_API_URL (with BATON_API_KEY), read when each call is made. */
export const variables: Variables = variablesUsing((name) => requiredClient(`variable '${name}'`));

/** Variables on the server `client` talks to. */
export const variablesOf = (client: BatonClient): Variables => variablesUsing(() => client);
