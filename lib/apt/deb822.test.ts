import { describe, expect, it } from "vitest";
import { Deb822Error, Deb822Parser, parseDeb822, type Deb822Paragraph } from "./deb822";
import { packagesIndex, packagesIndexChunks } from "./testing/packages-index";

const CONTROL = `# debian/control of a source package
Source: scap
Section: admin
Maintainer: Release Engineering <releng@example.org>

Package: scap
Architecture: all
# comment between fields
Depends: python3,
 python3-yaml,
 git
Description: Deployment toolchain
 Scap deploys code.
 .
 It also deploys config.
`;

describe("parseDeb822", () => {
  it("reads paragraphs, comments and continuation lines", () => {
    const [src, bin] = parseDeb822(CONTROL);
    expect(src!.toObject()).toEqual({ Source: "scap", Section: "admin", Maintainer: "Release Engineering <releng@example.org>" });
    expect(bin!.get("Depends")).toBe("python3,\npython3-yaml,\ngit");
    expect(bin!.get("Description")).toBe("Deployment toolchain\nScap deploys code.\n\nIt also deploys config.");
    expect(bin!.line).toBe(6);
  });

  it("matches field names case-insensitively and keeps the written name", () => {
    const [p] = parseDeb822("Package: scap\nVERSION: 1.0\n");
    expect(p!.get("version")).toBe("1.0");
    expect(p!.get("Version")).toBe("1.0");
    expect(p!.has("package")).toBe(true);
    expect(p!.names).toEqual(["Package", "VERSION"]);
  });

  it("accepts CRLF, whitespace-only separators, several blank lines and no final newline", () => {
    const ps = parseDeb822("\r\n\r\nA: 1\r\nB: two\r\n words\r\n \t \r\n\r\nA: 2");
    expect(ps.map((p) => p.toObject())).toEqual([{ A: "1", B: "two\nwords" }, { A: "2" }]);
  });

  it("starts a multi-line field with an empty first line at its second line", () => {
    const [p] = parseDeb822("SHA256:\n abc 12 main/binary-amd64/Packages\n def 3 main/binary-amd64/Packages.xz\n");
    expect(p!.get("sha256")).toBe("abc 12 main/binary-amd64/Packages\ndef 3 main/binary-amd64/Packages.xz");
  });

  it("reports malformed input with the line number", () => {
    expect(() => parseDeb822("A: 1\nno colon here\n")).toThrow(/line 2: expected "Field: value"/);
    expect(() => parseDeb822(" leading continuation\n")).toThrow(Deb822Error);
    expect(() => parseDeb822("A: 1\na: 2\n")).toThrow(/line 2: duplicate field a/);
    expect(() => parseDeb822(": empty name\n")).toThrow(/line 1/);
  });

  it("returns nothing for empty input", () => {
    expect(parseDeb822("")).toEqual([]);
    expect(parseDeb822("\n\n# only a comment\n")).toEqual([]);
  });
});

describe("Deb822Parser", () => {
  const text = "Package: a\nVersion: 1\n\nPackage: scap\nVersion: 2\nDescription: x\n y\n\nPackage: b\nVersion: 3\n";

  it("gives the same paragraphs whatever the chunk boundaries", () => {
    const whole = parseDeb822(text).map((p) => p.toObject());
    for (const size of [1, 2, 3, 7, 64]) {
      const got: Record<string, string>[] = [];
      const parser = new Deb822Parser({ onParagraph: (p) => got.push(p.toObject()) });
      for (let i = 0; i < text.length; i += size) parser.write(text.slice(i, i + size));
      parser.end();
      expect(got, `chunk ${size}`).toEqual(whole);
    }
  });

  it("decodes UTF-8 split across byte chunks", () => {
    const bytes = new TextEncoder().encode("Maintainer: Jörg Ünïcödé <j@example.org>\n");
    const got: string[] = [];
    const parser = new Deb822Parser({ onParagraph: (p) => got.push(p.get("maintainer")!) });
    for (const b of bytes) parser.write(new Uint8Array([b]));
    parser.end();
    expect(got).toEqual(["Jörg Ünïcödé <j@example.org>"]);
  });

  it("keeps only selected paragraphs, wherever the selecting field is", () => {
    const got: Deb822Paragraph[] = [];
    const parser = new Deb822Parser({ onParagraph: (p) => got.push(p), select: { field: "package", values: ["scap"] } });
    parser.write("Version: 9\nPACKAGE: scap\n\nPackage: scapx\n\nPackage: scap \r\nVersion: 2\r\n\r\nPackage: other\nVersion: 1\n");
    parser.end();
    expect(got.map((p) => p.get("version"))).toEqual(["9", "2"]);
    expect(parser.paragraphs).toBe(4);
  });

  it("scans a 50 MB, 60,000-paragraph index in well under a second", () => {
    const builds = [
      { package: "scap", version: "4.80.0-1+0~20261120093000.1~1.gbpabc123" },
      { package: "scap", version: "4.81.0-1+0~20261124120000.7~1.gbpdef456" },
    ];
    const chunks = [...packagesIndexChunks(60_000, builds, 50_000_000)];
    const bytes = chunks.map((c) => new TextEncoder().encode(c));
    expect(bytes.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(48_000_000);
    const found: string[] = [];
    const start = performance.now();
    const parser = new Deb822Parser({ onParagraph: (p) => found.push(p.get("version")!), select: { field: "Package", values: ["scap"] } });
    for (const b of bytes) for (let i = 0; i < b.length; i += 65_536) parser.write(b.subarray(i, i + 65_536));
    parser.end();
    const ms = performance.now() - start;
    expect(found).toEqual(builds.map((b) => b.version));
    expect(parser.paragraphs).toBe(60_002);
    expect(ms).toBeLessThan(1000);
  });

  it("parses every paragraph of a generated index the same as the one-shot parser", () => {
    const text = packagesIndex(200, [{ package: "scap", version: "1.0-1" }]);
    let n = 0;
    const parser = new Deb822Parser({ onParagraph: () => n++ });
    for (let i = 0; i < text.length; i += 1000) parser.write(text.slice(i, i + 1000));
    parser.end();
    expect(n).toBe(201);
    expect(parseDeb822(text)).toHaveLength(201);
  });

  it("refuses writes after end", () => {
    const parser = new Deb822Parser({ onParagraph: () => {} });
    parser.end();
    expect(() => parser.write("A: 1\n")).toThrow(/after end/);
  });
});
