import { describe, expect, it } from "vitest";
import { Deb822Error, Deb822Parser, Deb822Selector, parseDeb822, type Deb822Paragraph } from "./deb822";
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

/** What a selecting parser made of `data` fed in `chunk`-byte pieces: paragraphs, count, or the error. */
function outcome(kind: "parser" | "selector", data: Uint8Array, chunk: number, values = ["scap"]) {
  const got: { line: number; fields: Record<string, string> }[] = [];
  const options = { onParagraph: (p: Deb822Paragraph) => got.push({ line: p.line, fields: p.toObject() }), select: { field: "Package", values } };
  const parser = kind === "parser" ? new Deb822Parser(options) : new Deb822Selector(options);
  try {
    for (let i = 0; i < data.length; i += chunk) parser.write(data.subarray(i, i + chunk));
    parser.end();
  } catch (e) {
    if (!(e instanceof Deb822Error)) throw e;
    return { error: e.message };
  }
  return { paragraphs: got, count: parser.paragraphs };
}

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));

/** Deterministic pseudo-random numbers (an LCG), so a failing case can be replayed. */
function random(seed: number) {
  let x = seed >>> 0;
  return (n: number) => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % n;
  };
}

describe("Deb822Selector", () => {
  const cases: [string, Buffer][] = [
    ["look-alike names", bytes("Package: scap-extra\nVersion: 1\n\nPackage: xscap\nVersion: 2\n\nPackage: scapx\n\nPackages: scap\n\nPackage : scap\n\nPackage: scap\nVersion: 3\n")],
    ["the last stanza without a final newline", bytes("Package: a\nVersion: 1\n\nPackage: scap\nVersion: 2")],
    ["Package not the first field", bytes("Version: 9\nArchitecture: all\nPackage: scap\nSize: 1\n\nVersion: 8\nPackage: other\n")],
    ["continuation lines", bytes("Package: scap\nDescription: x\n y\n .\n z\nDepends: a,\n\tb\n\nPackage: b\nDescription: c\n d\n")],
    ["case, tabs and trailing whitespace", bytes("package: scap\n\nPACKAGE:scap\n\nPackage:\tscap \t\n\nPackage:   scap   \n\nPackage: scap\u00a0\n\nPackage:\u3000scap\n")],
    ["CRLF line ends", bytes("Package: scap\r\nVersion: 1\r\n\r\nPackage: b\r\n\r\n\r\nPackage: scap\r\nVersion: 2\r\n")],
    ["the Kelvin sign, which lower-cases to k", bytes("PAC\u212aAGE: scap\nVersion: 1\n\nPAC\u212bAGE: scap\n")],
    ["a BOM at the start and inside", bytes("\ufeffPackage: scap\nVersion: 1\n\n\ufeffPackage: scap\nVersion: 2\n\nA: \ufeff\n")],
    ["whitespace-only lines as separators", bytes("Package: scap\n \t \nVersion: 2\n\t\nPackage: scap\nVersion: 3\n\r\nB: 1\n  \n")],
    ["comments", bytes("# head\nPackage: scap\n# inside\nVersion: 1\n\n#Package: scap\n\n# only\n\nA: 1\n#Package: scap\n")],
    ["an indented Package line is a continuation", bytes("A: 1\n Package: scap\n\nB: 2\n\tPackage: scap\n")],
    ["invalid UTF-8 in and outside a selected stanza", bytes("Package: scap\nDescription: ", [0xff, 0xfe, 0xc3], " x\n", [0xe2, 0x82], "\n\nPackage: b\nX: ", [0x80], "\n\nPackage: scap", [0xe2], "\n")],
    ["a continuation line opening an unselected stanza", bytes("Package: scap\nVersion: 1\n\nPackage: b\n\n bad\n")],
    ["a continuation line after a whitespace-only line", bytes("Package: a\n \n bad\n")],
    ["a continuation line after a comment at the start", bytes("# c\n bad\n")],
    ["a duplicate Package field", bytes("Package: other\nPackage: scap\n")],
    ["a syntax error in a selected stanza", bytes("Package: b\nno colon\n\nPackage: scap\nno colon\n")],
    ["empty input, blank lines and comments only", bytes("\n\n# only a comment\n \n")],
    ["nothing but a BOM", bytes("\ufeff")],
  ];

  it.each(cases)("selects as the text parser does: %s", (_name, data) => {
    const want = outcome("parser", data, data.length);
    for (const chunk of [1, 2, 3, 5, 16, data.length]) expect(outcome("selector", data, chunk), `chunks of ${chunk}`).toEqual(want);
  });

  it("picks the package's stanzas, and only those", () => {
    const data = bytes("Package: scap-extra\nVersion: 1\n\nVersion: 2\nPackage: scap\nDescription: d\n more\n\nPackage: xscap\nVersion: 3\n\nPackage: scap \nVersion: 4");
    expect(outcome("selector", data, 7)).toEqual({
      paragraphs: [
        { line: 4, fields: { Version: "2", Package: "scap", Description: "d\nmore" } },
        { line: 12, fields: { Package: "scap", Version: "4" } },
      ],
      count: 4,
    });
    expect(outcome("selector", bytes("Package: b\n\n bad\n"), 4)).toEqual({ error: "line 3: continuation line before any field" });
  });

  it("selects any of several values", () => {
    const data = bytes("Package: a\n\nPackage: b\n\nPackage: c\n");
    expect(outcome("selector", data, 3, ["a", "c"])).toEqual(outcome("parser", data, 3, ["a", "c"]));
  });

  it("selects as the text parser does on random input", () => {
    const lines: (string | number[])[] = [
      "Package: scap", "package:scap ", "Package:\tscap\t", "Package: scapx", "Package: xscap", "Package: scap\r", "PAC\u212aAGE: scap", "Package:\u00a0scap",
      "Version: 1", "A: b", "a: c", " cont", "\t cont", " .", " ", "\t", "", "", "", "#c", "\r", " \r", "\ufeffPackage: scap", "no colon", [0xff], [0xe2, 0x82], "X: \u00e9",
    ];
    const next = random(12);
    for (let round = 0; round < 3000; round++) {
      const parts: (string | number[])[] = [];
      const n = next(12);
      for (let i = 0; i < n; i++) parts.push(lines[next(lines.length)]!, next(4) === 0 ? "\r\n" : "\n");
      if (next(3) === 0) parts.pop();
      const data = bytes(...parts);
      const want = outcome("parser", data, data.length || 1);
      expect(outcome("selector", data, 1 + next(9)), JSON.stringify(data.toString("latin1"))).toEqual(want);
    }
  });

  it("gives the text parser's result on a 60,000-stanza index with look-alikes, and is faster", () => {
    const builds = [
      { package: "scap", version: "4.80.0-1" },
      { package: "scap-extra", version: "1.0" },
      { package: "scap", version: "4.81.0-1", architecture: "arm64" },
      { package: "xscap", version: "2.0" },
      { package: "scap", version: "4.82.0-1" },
    ];
    const chunks = [...packagesIndexChunks(60_000, builds, 30_000_000)];
    // A stanza whose Package field comes last, in the middle of the index.
    chunks.splice(chunks.length >> 1, 0, "Version: 9.0\nArchitecture: all\nDescription: last\n x\nPackage: scap\n\n");
    const data = Buffer.from(chunks.join(""));
    const time = (kind: "parser" | "selector") => {
      const t0 = performance.now();
      const r = outcome(kind, data, 65_536);
      return { r, ms: performance.now() - t0 };
    };
    time("selector");
    const parser = time("parser");
    const selector = time("selector");
    expect(parser.r.paragraphs!.map((p) => p.fields.Version).sort()).toEqual(["4.80.0-1", "4.81.0-1", "4.82.0-1", "9.0"]);
    expect(selector.r).toEqual(parser.r);
    expect(selector.ms).toBeLessThan(parser.ms);
  });

  it("refuses writes after end", () => {
    const s = new Deb822Selector({ onParagraph: () => {}, select: { field: "Package", values: ["scap"] } });
    s.end();
    expect(() => s.write(bytes("A: 1\n"))).toThrow(/after end/);
  });
});
