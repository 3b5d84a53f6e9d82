import { describe, expect, it } from "vitest";
import { compareLink } from "./compare";

const T = "https://gitlab.example.org/repo/scap/-/compare/{from}...{to}";

describe("compareLink", () => {
  it("fills the two git commits of beta versions into the template", () => {
    expect(compareLink(T, "4.80.0-1+0~20261120093000.1~1.gbpabc123", "4.81.0-1+0~20261124120000.7~1.gbpdef456")).toBe("https://gitlab.example.org/repo/scap/-/compare/abc123...def456");
  });

  it("gives no link without a template, a from version, a commit in either version, or when both name one commit", () => {
    expect(compareLink(undefined, "4.80.0-1+0~20261120093000.1~1.gbpabc123", "4.81.0-1+0~20261124120000.7~1.gbpdef456")).toBeNull();
    expect(compareLink(T, null, "4.81.0-1+0~20261124120000.7~1.gbpdef456")).toBeNull();
    expect(compareLink(T, "4.80.0-1", "4.81.0-1+0~20261124120000.7~1.gbpdef456")).toBeNull();
    expect(compareLink(T, "4.80.0-1+0~20261120093000.1~1.gbpabc123", "4.81.0-1")).toBeNull();
    expect(compareLink(T, "4.80.0-1+0~20261120093000.1~1.gbpabc123", "4.80.0-2+0~20261120093000.1~1.gbpabc123")).toBeNull();
  });
});
