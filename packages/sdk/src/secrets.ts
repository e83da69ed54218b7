import { requiredClient } from "./settings.js";

/** The value of secret `name`, from the server at BATON_API_URL (with BATON_API_KEY), read at each call. */
export async function secret(name: string): Promise<string> {
  const { value } = await requiredClient(`secret '${name}'`).api.revealSecret({ params: { name } });
  return value;
}
