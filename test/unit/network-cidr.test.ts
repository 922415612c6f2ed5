// familyOf checks hex-and-colon IPv6 forms itself (node's isIPv6 compiles a very large regular
// expression at its first call, a few ms on every network command): it must decide exactly as
// isIPv6 does, on the edge cases and on random strings of the same alphabet.
import { isIPv4, isIPv6 } from "node:net";
import { describe, expect, it } from "vitest";
import { familyOf } from "../../src/network/cidr.js";

const v6 = (s: string) => (isIPv4(s) ? 4 : isIPv6(s) ? 6 : undefined);

describe("familyOf", () => {
  it("agrees with node's isIPv6 on the edge cases of the short forms", () => {
    const cases = [
      "::",
      ":::",
      "::1",
      "1::",
      ":1::",
      "::1:",
      "1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7::",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7",
      "::1:2:3:4:5:6:7:8",
      "1::2::3",
      "fd89::",
      "FE80::1",
      "12345::",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6::7",
      "",
      "abc",
      "1.2.3",
      "localhost",
      ":",
      "1:",
      ":1",
      "a::b:c",
      "0000:0:0:0:0:0:0:0",
      "g::1",
    ];
    for (const s of cases) expect(familyOf(s), s).toBe(v6(s));
    // the forms it hands to node: an IPv4 tail, a zone
    expect(familyOf("::ffff:10.0.0.1")).toBe(6);
    expect(familyOf("fe80::1%eth0")).toBe(v6("fe80::1%eth0"));
    expect(familyOf("10.88.0.1")).toBe(4);
  });

  it("agrees with node's isIPv6 on 50,000 random strings of hex digits, colons, dots and zones", () => {
    const alphabet = "0123456789abcdefABCDEF:::::.%gx";
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 50_000; i++) {
      let s = "";
      for (let j = 0, len = 1 + rand(24); j < len; j++) s += alphabet[rand(alphabet.length)];
      if (familyOf(s) !== v6(s)) expect(familyOf(s), JSON.stringify(s)).toBe(v6(s));
    }
  });
});
