// The Docker engine the docker-pool tests use: DOCKER_HOST when set (CI sets it through
// scripts/podman.sh), else Podman's service started by scripts/podman.sh when podman is installed,
// else Docker's default socket. No engine at all means the suite is skipped, and says so loudly.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const script = `${root}/scripts/podman.sh`;

/** The image the tests run: this machine's node, FROM scratch (scripts/podman.sh image). */
export const NODE_IMAGE = "baton-node:local";

const installed = (command: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/** Sets DOCKER_HOST for this process and the workers it starts; the reason there is no engine otherwise. */
export function findDockerEngine(): string | undefined {
  if (process.env.DOCKER_HOST) return undefined;
  if (installed("podman") && installed("runc")) {
    const exports = execFileSync("bash", [script, "start"], { encoding: "utf8" });
    for (const [, name, value] of exports.matchAll(/^export (\w+)=(.*)$/gm)) process.env[name!] = value!;
    return undefined;
  }
  if (existsSync("/var/run/docker.sock")) return undefined;
  return "no Docker engine: DOCKER_HOST is not set, podman and runc are not installed (bash scripts/podman.sh installs them) and /var/run/docker.sock does not exist";
}

/** Builds the node image unless it is there already for this node binary (a few seconds once, then nothing). */
export function ensureNodeImage(): void {
  execFileSync("bash", [script, "image", NODE_IMAGE], { stdio: ["ignore", "ignore", "inherit"] });
}

/** The containers of the given workers, running or not. */
export async function containersOf(docker: Docker, ...workers: string[]): Promise<Docker.ContainerInfo[]> {
  const all = await Promise.all(
    workers.map((worker) =>
      docker.listContainers({ all: true, filters: { label: [`baton.worker=${worker}`] } }),
    ),
  );
  return all.flat();
}

export { Docker };
