import type { StoreContext } from "./context.js";

/**
 * Takes or renews the lease of a background service for `holder` until `seconds` from now. True when
 * `holder` has it: it had it already, nobody had it, or the last holder's lease ran out (that server
 * stopped or died). One statement, so two servers asking at once cannot both get it.
 */
export async function holdLease(
  { db }: StoreContext,
  name: string,
  holder: string,
  seconds: number,
): Promise<boolean> {
  const now = new Date();
  const expires = new Date(now.getTime() + seconds * 1000).toISOString();
  const row = await db.kysely
    .insertInto("serviceLeases")
    .values({ name, holder, expires })
    .onConflict((conflict) =>
      conflict
        .column("name")
        .doUpdateSet({ holder, expires })
        .where((eb) =>
          eb.or([
            eb("serviceLeases.holder", "=", holder),
            eb("serviceLeases.expires", "<", now.toISOString()),
          ]),
        ),
    )
    .returning("holder")
    .executeTakeFirst();
  return row?.holder === holder;
}

/** Gives back every lease of `holder` (a server stopping), so another server takes over at once. */
export async function releaseLeases({ db }: StoreContext, holder: string): Promise<void> {
  await db.kysely.deleteFrom("serviceLeases").where("holder", "=", holder).execute();
}
