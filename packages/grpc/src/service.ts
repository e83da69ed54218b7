import { create, isMessage, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { BatonClient } from "@baton/client";
import { BatonError, parseDeploymentName, type FlowRun, type JsonObject } from "@baton/core";
import {
  CancelledError,
  defaultClient,
  loadResult,
  TimeoutError,
  waitForFlowRun,
  type Flow,
} from "@baton/sdk";
import { messageToJson, registerMessages } from "./messages.js";

interface BindingOptions {
  /**
   * The flow parameter the request message is passed as. Defaults to the flow's only parameter
   * (inline); a deployment needs it or `parameters`.
   */
  parameter?: string;
  /** Makes the flow's parameters from the request (messages or JSON values), instead of `parameter`. */
  parameters?: (request: never) => Record<string, unknown>;
  /** Request metadata (header) keys recorded as the run's labels. */
  labelsFromMetadata?: string[];
  /** Chooses the status a failed run answers with; return undefined to keep the default (UNKNOWN). */
  statusFor?: (failure: { message: string; run?: FlowRun; error?: unknown }) => ConnectError | undefined;
}

/** Runs the flow in this process, one tracked run per call. */
export interface InlineBinding extends BindingOptions {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  flow: Flow<any, unknown>;
}

/** Creates a run of a deployment (served or deployed elsewhere) per call and answers when it ends. */
export interface DeploymentBinding extends BindingOptions {
  /** `<flow name>/<deployment name>` */
  deployment: string;
  client?: BatonClient;
}

/** The flow's parameters for a call: the request under one name, or what `parameters` makes of it. */
function parametersFor(binding: BindingOptions, parameter: string | undefined, request: unknown) {
  if (binding.parameters) return binding.parameters(request as never);
  return { [parameter!]: request };
}

export type MethodBinding = InlineBinding | DeploymentBinding;

/** Parameters as JSON for the API: messages in their proto3 JSON form. */
function jsonOf(parameters: Record<string, unknown>): JsonObject {
  const json: JsonObject = {};
  for (const [name, value] of Object.entries(parameters)) {
    json[name] = (
      isMessage(value) ? messageToJson(value) : JSON.parse(JSON.stringify(value ?? null))
    ) as JsonObject[string];
  }
  return json;
}

/** How a call went wrong, in gRPC's terms. */
function toConnectError(error: unknown, options: BindingOptions, run?: FlowRun): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof TimeoutError) return new ConnectError(error.message, Code.DeadlineExceeded);
  if (error instanceof CancelledError) return new ConnectError(error.message, Code.Canceled);
  const baton = BatonError.from(error);
  if (baton.code === "invalid_argument") return new ConnectError(baton.message, Code.InvalidArgument);
  if (baton.code === "not_found") return new ConnectError(baton.message, Code.NotFound);
  if (baton.code === "unavailable") return new ConnectError(baton.message, Code.Unavailable);
  return (
    options.statusFor?.({ message: baton.message, run, error }) ??
    new ConnectError(baton.message, Code.Unknown)
  );
}

/**
 * The call's cancel and deadline, as the run understands them: the deadline becomes the run's
 * timeout (it ends TimedOut), a client that goes away cancels the run.
 */
function callSignal(context: HandlerContext, what: string): { signal: AbortSignal; timeoutSeconds?: number } {
  const controller = new AbortController();
  const timeoutMs = context.timeoutMs();
  const timeoutSeconds = timeoutMs === undefined ? undefined : Math.max(timeoutMs, 1) / 1000;
  const deadlineAt = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  const onAbort = () => {
    const reason: unknown = context.signal.reason;
    // A client gives up at its deadline too, which the server sees as a cancel: near the deadline
    // (within the clocks' jitter), a cancel is the deadline passing.
    const deadline =
      (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) ||
      Date.now() >= deadlineAt - 50;
    controller.abort(
      deadline
        ? new TimeoutError(what, timeoutSeconds ?? 0)
        : new CancelledError(what, "the gRPC call was cancelled"),
    );
  };
  if (context.signal.aborted) onAbort();
  else context.signal.addEventListener("abort", onAbort, { once: true });
  return { signal: controller.signal, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) };
}

function labelsOf(context: HandlerContext, keys: string[] = []): Record<string, string> {
  const labels: Record<string, string> = {
    "grpc.method": `${context.service.typeName}/${context.method.name}`,
  };
  for (const key of keys) {
    const value = context.requestHeader.get(key);
    if (value !== null) labels[`grpc.metadata.${key}`] = value;
  }
  return labels;
}

/** The flow's answer as the method's output message (a plain object of its fields is accepted too). */
function asOutput<O extends DescMessage>(output: O, value: unknown, what: string): MessageShape<O> {
  if (isMessage(value, output)) return value;
  if (typeof value === "object" && value !== null && !isMessage(value)) return create(output, value as never);
  throw new ConnectError(`${what} returned something that is not a ${output.typeName}`, Code.Internal);
}

function inlineMethod(binding: InlineBinding, input: DescMessage, output: DescMessage) {
  const flow = binding.flow;
  const names = flow.codec.names();
  const parameter = binding.parameter ?? (names.length === 1 ? names[0] : undefined);
  if (!parameter && !binding.parameters) {
    throw new BatonError(
      "invalid_argument",
      `flow '${flow.flowName}' has ${names.length} parameters: say which one takes the ${input.typeName} request (parameter)`,
    );
  }
  return async (request: unknown, context: HandlerContext) => {
    const what = `flow '${flow.flowName}' for ${context.method.name}`;
    try {
      const result = await flow.runWith(parametersFor(binding, parameter, request), {
        ...callSignal(context, what),
        labels: labelsOf(context, binding.labelsFromMetadata),
      });
      return asOutput(output, result, what);
    } catch (error) {
      throw toConnectError(error, binding);
    }
  };
}

function deploymentMethod(binding: DeploymentBinding, input: DescMessage, output: DescMessage) {
  const address = parseDeploymentName(binding.deployment);
  if (!binding.parameter && !binding.parameters) {
    throw new BatonError(
      "invalid_argument",
      `deployment '${binding.deployment}': say which parameter takes the ${input.typeName} request (parameter or parameters)`,
    );
  }
  let deploymentId: string | undefined;
  return async (request: MessageShape<DescMessage>, context: HandlerContext) => {
    const client = binding.client ?? defaultClient();
    if (!client)
      throw new ConnectError("the gRPC server has no Baton server: set BATON_API_URL", Code.Unavailable);
    const what = `deployment '${binding.deployment}' for ${context.method.name}`;
    let run: FlowRun | undefined;
    try {
      deploymentId ??= (await client.api.readDeploymentByName({ params: address })).id;
      const { signal, timeoutSeconds } = callSignal(context, what);
      run = await client.api.createDeploymentRun({
        params: { id: deploymentId },
        body: {
          parameters: jsonOf(parametersFor(binding, binding.parameter, request)),
          labels: labelsOf(context, binding.labelsFromMetadata),
          ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
        },
      });
      run = await waitForFlowRun(client, run.id, undefined, signal);
      if (signal.aborted) {
        // The caller is gone or out of time: the run stops too.
        await client.api
          .setFlowRunState({ params: { id: run.id }, body: { state: { type: "CANCELLING" } } })
          .catch(() => undefined);
        throw signal.reason;
      }
      const state = run.state;
      if (state?.type === "COMPLETED") return asOutput(output, await loadResult(state.data), what);
      const message = `flow run '${run.name}' ended ${state?.name ?? "without a state"}: ${state?.message ?? ""}`;
      if (state?.name === "TimedOut") throw new ConnectError(message, Code.DeadlineExceeded);
      if (state?.name === "InvalidParameters") throw new ConnectError(message, Code.InvalidArgument);
      if (state?.type === "CANCELLED") throw new ConnectError(message, Code.Canceled);
      throw binding.statusFor?.({ message, run }) ?? new ConnectError(message, Code.Unknown);
    } catch (error) {
      throw toConnectError(error, binding, run);
    }
  };
}

/**
 * Implements a service's unary methods with flows, for Connect's router (`router.service(service,
 * flowMethods(service, {...}))`), so gRPC, gRPC-Web and Connect clients all reach them. Each call is a
 * tracked flow run; its deadline is the run's timeout; a client cancel cancels the run; failures
 * answer with fitting status codes.
 */
export function flowMethods<S extends DescService>(
  service: S,
  bindings: { [M in keyof S["method"]]?: MethodBinding },
): ServiceImpl<S> {
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const binding = (bindings as Record<string, MethodBinding | undefined>)[method.localName];
    if (!binding) continue;
    if (method.methodKind !== "unary") {
      throw new BatonError(
        "invalid_argument",
        `${service.typeName}/${method.name}: only unary methods can be flows`,
      );
    }
    registerMessages(method.input, method.output);
    impl[method.localName] =
      "flow" in binding
        ? inlineMethod(binding, method.input, method.output)
        : deploymentMethod(binding, method.input, method.output);
  }
  return impl as ServiceImpl<S>;
}
