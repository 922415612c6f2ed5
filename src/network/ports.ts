// `-p/--publish [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]`, expanded to one mapping
// per port. An IPv6 host address goes in brackets: `[::1]:8080:80`.
import { PolisError } from "../errors.js";
import { familyOf } from "./cidr.js";

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
  if (!m || a < 1 || b > 65535 || b < a) throw new PolisError(`--publish ${spec}: bad ${what} "${text}" (a port 1-65535 or a range like 8000-8010)`);
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
  if (hostIp !== "" && !familyOf(hostIp)) throw new PolisError(`--publish ${spec}: host address "${hostIp}" is not an IP address`);
  if (hostIp === "0.0.0.0" || hostIp === "::") hostIp = "";
  const [h0, h1] = range(parts[0], spec, "host port");
  const [c0, c1] = range(parts[1], spec, "container port");
  if (h1 - h0 !== c1 - c0) throw new PolisError(`--publish ${spec}: the host and container port ranges differ in length`);
  const out: PortMapping[] = [];
  for (let i = 0; i <= h1 - h0; i++) out.push({ hostIp, protocol, hostPort: h0 + i, containerPort: c0 + i });
  return out;
}

/** Two mappings of one request that take the same host port. */
export function duplicateIn(maps: readonly PortMapping[]): PortMapping | undefined {
  const seen = new Set<string>();
  for (const m of maps) {
    const k = `${m.protocol}/${m.hostPort}`;
    for (const ip of [m.hostIp, ""]) if (seen.has(`${ip}|${k}`) || (m.hostIp === "" && [...seen].some((s) => s.endsWith(`|${k}`)))) return m;
    seen.add(`${m.hostIp}|${k}`);
  }
  return undefined;
}
