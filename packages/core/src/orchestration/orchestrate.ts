import { POLICY } from "./rules.js";
import type { Rule, TransitionContext, Verdict } from "./types.js";

function applies(rule: Rule, ctx: TransitionContext): boolean {
  if (!rule.runKinds.includes(ctx.runKind)) return false;
  const from = ctx.initial?.type ?? null;
  if (rule.from !== "any" && !rule.from.includes(from)) return false;
  return rule.to === "any" || rule.to.includes(ctx.proposed.type);
}

/**
 * Decides a proposed transition. Pure: the caller reads the context inside its transaction and
 * applies the verdict there. A rule that throws aborts the proposal instead of crashing the caller.
 */
export function orchestrate(
  ctx: TransitionContext,
  options: { force?: boolean; policy?: readonly Rule[] } = {},
): Verdict {
  if (options.force) return { status: "ACCEPT", state: ctx.proposed, reason: "forced" };
  for (const rule of options.policy ?? POLICY) {
    if (!applies(rule, ctx)) continue;
    try {
      const verdict = rule.apply(ctx);
      if (verdict) return { ...verdict, reason: `${verdict.reason} [${rule.name}]` };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { status: "ABORT", reason: `rule '${rule.name}' failed: ${message}` };
    }
  }
  return { status: "ACCEPT", state: ctx.proposed, reason: "accepted" };
}
