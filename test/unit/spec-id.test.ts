import { describe, expect, test } from "vitest";
import { PolisError } from "../../src/errors.js";
import { isValidId, validateId } from "../../src/spec/id.js";

describe("validateId (runc's rule)", () => {
  for (const id of ["a", "abc123", "my_container", "a.b", "a-b", "a+b", "...", ".a", "A".repeat(255), "1"]) {
    test(`accepts ${JSON.stringify(id.length > 20 ? `A×${id.length}` : id)}`, () => {
      expect(() => validateId(id)).not.toThrow();
      expect(isValidId(id)).toBe(true);
    });
  }
  for (const id of ["", ".", "..", "../x", "a/b", "/abs", "a b", "a\nb", "é", "a:b", "a*", "x\0"]) {
    test(`rejects ${JSON.stringify(id)}`, () => {
      expect(() => validateId(id)).toThrow(PolisError);
      expect(() => validateId(id)).toThrow(`invalid container id ${JSON.stringify(id)}`);
      expect(isValidId(id)).toBe(false);
    });
  }
  test("rejects an id longer than a directory name (255) up front, with a clear error", () => {
    expect(() => validateId("a".repeat(256))).toThrow(
      "invalid container id: 256 characters, at most 255 (it names a directory): file name too long",
    );
  });
});
