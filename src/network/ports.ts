// `-p/--publish [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]`, expanded to one mapping
// per port. An IPv6 host address goes in brackets: `[::1]:8080:80`.
import { PolisError } from "../errors.js";
import { familyOf, parseIp } from "./cidr.js";

export interface PortMapping {
  /** "" = every host address. */
  hostIp: string;
  protocol: "tcp" | "udp";
  hostPort: number;
  containerPort: number;
}

function range(text: string, spec: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const a = m ? Number(m[1]) : NaN;
  const b = m?.[2] !== undefined ? Number(m[2]) : a;
  if (!m || a < 1 || b > 65535 || b < a)
    throw new PolisError(`--publish ${spec}: bad ${what} "${text}" (a port 1-65535 or a range like 8000-8010)`);
  return [a, b];
}

export function parsePublish(spec: string): PortMapping[] {
  let rest = spec;
  let protocol: "tcp" | "udp" = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") throw new PolisError(`--publish ${spec}: protocol "${p}" must be tcp or udp`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = "";
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (bracket) {
    hostIp = bracket[1];
    rest = bracket[2];
  }
  const parts = rest.split(":");
  if (!bracket && parts.length === 3) hostIp = parts.shift()!;
  if (parts.length !== 2) throw new PolisError(`--publish ${spec}: expected [hostIP:]hostPort:containerPort[/tcp|udp]`);
  if (hostIp !== "" && !familyOf(hostIp))
    throw new PolisError(`--publish ${spec}: host address "${hostIp}" is not an IP address`);
  if (hostIp === "0.0.0.0" || hostIp === "::") hostIp = "";
  // The kernel does not route a loopback IPv6 source out of the host (IPv6 has no route_localnet),
  // so a DNAT from ::1 cannot work; netavark accepts it and silently drops, docker needs its
  // userland proxy. Said plainly instead:
  if (familyOf(hostIp) === 6 && parseIp(hostIp).value === 1n) {
    throw new PolisError(
      `--publish ${spec}: a port cannot be published on ::1 (the kernel forwards no IPv6 loopback traffic to a container); use 127.0.0.1 or a host address`,
    );
  }
  const [h0, h1] = range(parts[0], spec, "host port");
  const [c0, c1] = range(parts[1], spec, "container port");
  if (h1 - h0 !== c1 - c0) throw new PolisError(`--publish ${spec}: the host and container port ranges differ in length`);
  const out: PortMapping[] = [];
  for (let i = 0; i <= h1 - h0; i++) out.push({ hostIp, protocol, hostPort: h0 + i, containerPort: c0 + i });
  return out;
}

/** Whether two mappings take the same host port ("" = every address overlaps any address). */
export function clashes(
  a: Pick<PortMapping, "hostIp" | "protocol" | "hostPort">,
  b: Pick<PortMapping, "hostIp" | "protocol" | "hostPort">,
): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === "" || b.hostIp === "" || a.hostIp === b.hostIp);
}

/** A mapping of one request whose host port an earlier one of the same request takes. */
export function duplicateIn(maps: readonly PortMapping[]): PortMapping | undefined {
  return maps.find((m, i) => maps.slice(0, i).some((earlier) => clashes(earlier, m)));
}
