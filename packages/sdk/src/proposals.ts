import type { BatonClient } from "@baton/client";
import {
  BatonError,
  MAX_PROPOSALS,
  type SetStateResult,
  type SetStates,
  type SetStatesResult,
} from "@baton/core";
import { perClient } from "./batcher.js";

type Proposal = SetStates["proposals"][number];

interface Waiting {
  proposal: Proposal;
  resolve: (result: SetStateResult) => void;
  reject: (error: unknown) => void;
}

/**
 * A process's flow-run state proposals, sent together when they meet: one goes out at once, and those
 * made while it is on its way go out together once it is answered, in one request that the server
 * decides in one transaction (a serve process's runs ending at about the same time). No proposal
 * waits for company, only for the call on its way (one at a time per client); each gets its own answer.
 */
class FlowRunProposals {
  #waiting: Waiting[] = [];
  #sending = false;

  constructor(private readonly client: BatonClient) {}

  propose(proposal: Proposal): Promise<SetStateResult> {
    const answer = new Promise<SetStateResult>((resolve, reject) =>
      this.#waiting.push({ proposal, resolve, reject }),
    );
    if (!this.#sending) void this.#sendWaiting();
    return answer;
  }

  async #sendWaiting(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, MAX_PROPOSALS);
        if (batch.length === 1) await this.#sendOne(batch[0]!);
        else await this.#sendTogether(batch);
      }
    } finally {
      this.#sending = false;
    }
  }

  async #sendOne({ proposal: { id, ...body }, resolve, reject }: Waiting): Promise<void> {
    try {
      resolve(await this.client.api.setFlowRunState({ params: { id }, body }));
    } catch (error) {
      reject(error);
    }
  }

  async #sendTogether(batch: Waiting[]): Promise<void> {
    let results: SetStatesResult["results"];
    try {
      ({ results } = await this.client.api.setFlowRunStates({
        body: { proposals: batch.map(({ proposal }) => proposal) },
      }));
    } catch (error) {
      // Refused as a whole (one proposal's result over the server's limit, a server without this
      // call): each goes alone, so that none is refused for another. Any other failure (unreachable:
      // each caller tries again when it can) is every proposal's.
      const refused = error instanceof BatonError && ["invalid_argument", "not_found"].includes(error.code);
      if (refused) for (const waiting of batch) await this.#sendOne(waiting);
      else for (const { reject } of batch) reject(error);
      return;
    }
    // An answer not of this call's shape (a proxy's, an older server's) must still settle every one.
    const answered = Array.isArray(results) ? results : [];
    batch.forEach(({ resolve, reject }, index) => {
      const result = answered[index];
      if (!result)
        reject(
          new BatonError("internal", `the server answered ${answered.length} of ${batch.length} proposals`),
        );
      else if ("error" in result) reject(new BatonError(result.error.code, result.error.message));
      else resolve(result);
    });
  }
}

/** The proposals of every flow run a process carries out on one client, sent together when they meet. */
export const flowRunProposals = perClient((client: BatonClient) => new FlowRunProposals(client));
