import { describe, expect, it } from "vitest";
import { RepositoryError } from "./apt/errors";
import { AppError } from "./errors";
import { SshError } from "./fleet/ssh";

describe("branded errors", () => {
  it("recognise instances made by another copy of the class, as a second bundle would", () => {
    // A structural copy: what a second module instance's `new SshError(...)` looks like from here.
    const foreign = Object.create(Error.prototype) as object;
    expect(foreign instanceof SshError).toBe(false);
    const ssh = new SshError({ kind: "connect-timeout", host: "h", message: "m", durationMs: 1 });
    Object.assign(foreign, ssh);
    for (const sym of Object.getOwnPropertySymbols(ssh)) (foreign as Record<symbol, unknown>)[sym] = (ssh as unknown as Record<symbol, unknown>)[sym];
    expect(foreign instanceof SshError).toBe(true);
    expect(foreign instanceof AppError).toBe(false);
  });

  it("keeps subclasses apart", () => {
    const repo = new RepositoryError("unreachable", "down");
    const app = new AppError("CONFLICT", "busy");
    expect(repo instanceof AppError).toBe(true);
    expect(repo instanceof RepositoryError).toBe(true);
    expect(app instanceof RepositoryError).toBe(false);
    expect(new Error("x") instanceof AppError).toBe(false);
    expect((null as unknown as object) instanceof AppError).toBe(false);
  });
});
