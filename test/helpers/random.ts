// The tests' one seeded generator: a random corpus (fuzzed plans, layers, HTTP answers, configs)
// is the same on every run, so a failure names the seed that reproduces it.

/** mulberry32: small, seedable, good enough to pick bytes and cases; numbers in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
