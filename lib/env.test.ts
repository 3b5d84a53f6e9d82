import { describe, expect, it } from "vitest";
import { checkEnv } from "./env";

const env = (vars: Record<string, string>) => ({ NODE_ENV: "test", ...vars }) as NodeJS.ProcessEnv;

describe("environment", () => {
  it("takes HOST as an address or host name to listen on, and names it when it is not one", () => {
    expect(checkEnv(env({ HOST: "0.0.0.0" })).HOST).toBe("0.0.0.0");
    expect(checkEnv(env({ HOST: "::" })).HOST).toBe("::");
    expect(checkEnv(env({ HOST: "scap-channels.internal" })).HOST).toBe("scap-channels.internal");
    expect(checkEnv(env({})).HOST).toBeUndefined();
    expect(() => checkEnv(env({ HOST: "127.0.0.1; rm -rf /" }))).toThrow(/HOST: must be an IP address or a host name/);
  });
});
