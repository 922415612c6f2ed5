// WWW-Authenticate challenges (RFC 7235) as registries send them, and the token request the
// distribution spec's token flow makes from a Bearer challenge.
export interface Challenge {
  scheme: string; // lower case: "bearer", "basic"
  params: Record<string, string>;
}

/** Parse a header that may hold several challenges: `Bearer realm="x",service="y", Basic realm="z"`. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skip = (re: RegExp) => {
    while (i < s.length && re.test(s[i])) i++;
  };
  while (i < s.length) {
    skip(/[\s,]/);
    const start = i;
    skip(/[^\s,=]/);
    const scheme = s.slice(start, i).toLowerCase();
    if (!scheme) break;
    const params: Record<string, string> = {};
    for (;;) {
      skip(/\s/);
      const save = i;
      const k0 = i;
      skip(/[^\s,=]/);
      const key = s.slice(k0, i).toLowerCase();
      skip(/\s/);
      if (!key || s[i] !== "=") {
        i = save; // the next challenge's scheme (or the end)
        break;
      }
      i++;
      skip(/\s/);
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        const v0 = i;
        skip(/[^\s,]/);
        value = s.slice(v0, i);
      }
      params[key] = value;
      skip(/\s/);
      if (s[i] === ",") {
        i++;
        // a comma may separate params or challenges: look ahead for key=
        const m = /^\s*([^\s,=]+)\s*(=|$|,|\s)/.exec(s.slice(i));
        if (m && m[2] !== "=") break;
      }
    }
    out.push({ scheme, params });
  }
  return out;
}

/** The token endpoint URL for a Bearer challenge and the scopes wanted. */
export function tokenUrl(challenge: Challenge, scopes: string[]): URL {
  const url = new URL(challenge.params.realm);
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  return url;
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}
