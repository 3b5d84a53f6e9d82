import { describe, expect, it } from "vitest";
import { clearFailures, isThrottled, recordFailure } from "./throttle";

describe("sign-in throttle", () => {
  it("pauses a name after five failures for fifteen minutes, and a success clears it", () => {
    const t0 = 1_000_000;
    for (let i = 0; i < 4; i++) recordFailure("carol", t0 + i);
    expect(isThrottled("carol", t0 + 10)).toBe(false);
    recordFailure("carol", t0 + 11);
    expect(isThrottled("carol", t0 + 12)).toBe(true);
    expect(isThrottled("dave", t0 + 12)).toBe(false);
    expect(isThrottled("carol", t0 + 15 * 60_000 + 1)).toBe(false);
    for (let i = 0; i < 5; i++) recordFailure("carol", t0 + 20 * 60_000);
    clearFailures("carol");
    expect(isThrottled("carol", t0 + 20 * 60_000)).toBe(false);
  });
});
