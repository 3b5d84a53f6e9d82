// deb822 control data (Release, Packages, debian/control): paragraphs of "Field: value" lines.
// Pure (no I/O). The streaming parser keeps only the paragraph being read, so a Packages index of
// any size costs one paragraph of memory plus one input chunk.

export class Deb822Error extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = "Deb822Error";
  }
}

interface Field {
  name: string;
  value: string;
}

/** One paragraph. Field names are matched case-insensitively, as dpkg and apt do. */
export class Deb822Paragraph {
  private readonly fields = new Map<string, Field>();

  constructor(
    /** 1-based line where the paragraph starts in its input. */
    readonly line: number,
  ) {}

  get(name: string): string | undefined {
    return this.fields.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  /** Field names as written, in input order. */
  get names(): string[] {
    return [...this.fields.values()].map((f) => f.name);
  }

  get size(): number {
    return this.fields.size;
  }

  /** Fields as written, in input order. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of this.fields.values()) out[f.name] = f.value;
    return out;
  }

  /** @internal */
  add(name: string, value: string, line: number): void {
    const key = name.toLowerCase();
    if (this.fields.has(key)) throw new Deb822Error(line, `duplicate field ${name}`);
    this.fields.set(key, { name, value });
  }

  /** @internal */
  append(name: string, text: string): void {
    const f = this.fields.get(name.toLowerCase())!;
    f.value = f.value === "" ? text : `${f.value}\n${text}`;
  }
}

const TAB = 9;
const SPACE = 32;
const HASH = 35;
const COLON = 58;
const CR = 13;

function isBlank(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

function stripCr(line: string): string {
  return line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
}

/**
 * Parses the lines of one paragraph (no blank lines inside). A continuation line loses its one
 * leading space or tab; a continuation line of just "." stands for an empty line, per policy 5.6.13.
 * A multi-line field whose first line is empty (Release's "SHA256:") starts with its second line.
 */
function parseParagraph(text: string, firstLine: number): Deb822Paragraph {
  const p = new Deb822Paragraph(firstLine);
  let current: string | null = null;
  let lineNo = firstLine;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const line = stripCr(text.slice(start, end));
    start = end + 1;
    const no = lineNo++;
    if (line.length === 0) continue;
    const c = line.charCodeAt(0);
    if (c === HASH) continue;
    if (c === SPACE || c === TAB) {
      if (current === null) throw new Deb822Error(no, "continuation line before any field");
      const body = line.slice(1).trimEnd();
      p.append(current, body === "." ? "" : body);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Deb822Error(no, `expected "Field: value", got ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    if (/[\s]/.test(name) || c === 45 /* - */) throw new Deb822Error(no, `invalid field name ${JSON.stringify(name.slice(0, 80))}`);
    p.add(name, line.slice(colon + 1).trim(), no);
    current = name;
  }
  return p;
}

export interface Deb822ParserOptions {
  /** Receives each (selected) paragraph as soon as its closing blank line or the end is read. */
  onParagraph: (paragraph: Deb822Paragraph) => void;
  /**
   * Fully parse only paragraphs whose `field` has one of `values`; the rest are skipped after a
   * cheap scan (and so are not checked for syntax errors).
   */
  select?: { field: string; values: Iterable<string> };
}

/**
 * Incremental deb822 parser: feed it strings or UTF-8 bytes in chunks of any size, then call end().
 * `#` lines are comments (debian/control style); blank or whitespace-only lines separate paragraphs;
 * CRLF line ends are accepted.
 */
export class Deb822Parser {
  private readonly onParagraph: (p: Deb822Paragraph) => void;
  private readonly selectField: string | null;
  private readonly selectValues: ReadonlySet<string> | null;
  private readonly decoder = new TextDecoder("utf-8");
  private buf = "";
  private pos = 0;
  /** Offset in buf where the current paragraph starts, or -1 between paragraphs. */
  private paraStart = -1;
  private paraLine = 0;
  private selected = false;
  private lineNo = 1;
  private ended = false;
  /** Paragraphs seen, selected or not. */
  paragraphs = 0;

  constructor(options: Deb822ParserOptions) {
    this.onParagraph = options.onParagraph;
    this.selectField = options.select ? options.select.field.toLowerCase() : null;
    this.selectValues = options.select ? new Set(options.select.values) : null;
  }

  write(chunk: string | Uint8Array): void {
    if (this.ended) throw new Error("Deb822Parser: write after end");
    const text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    if (text.length === 0) return;
    this.buf += text;
    this.scan(false);
  }

  end(): void {
    if (this.ended) return;
    const rest = this.decoder.decode();
    if (rest) this.buf += rest;
    this.scan(true);
    this.finishParagraph(this.buf.length);
    this.ended = true;
    this.buf = "";
  }

  private scan(final: boolean): void {
    const buf = this.buf;
    const field = this.selectField;
    let pos = this.pos;
    for (;;) {
      let nl = buf.indexOf("\n", pos);
      if (nl === -1) {
        if (!final || pos >= buf.length) break;
        nl = buf.length;
      }
      const c = buf.charCodeAt(pos);
      const lineStart = pos;
      const lineNo = this.lineNo++;
      pos = nl + 1;
      if (nl === lineStart || c === CR || c === SPACE || c === TAB) {
        if (isBlank(buf, lineStart, nl)) {
          this.finishParagraph(lineStart);
          continue;
        }
        if (this.paraStart === -1) throw new Deb822Error(lineNo, "continuation line before any field");
        continue;
      }
      if (c === HASH) continue;
      if (this.paraStart === -1) {
        this.paraStart = lineStart;
        this.paraLine = lineNo;
        this.selected = field === null;
      }
      if (field !== null && !this.selected) {
        const n = field.length;
        if (nl - lineStart > n && buf.charCodeAt(lineStart + n) === COLON && buf.slice(lineStart, lineStart + n).toLowerCase() === field) {
          this.selected = this.selectValues!.has(buf.slice(lineStart + n + 1, nl).trim());
        }
      }
    }
    // Keep the unfinished paragraph (or the partial line) for the next chunk.
    if (this.paraStart !== -1) {
      this.buf = buf.slice(this.paraStart);
      this.pos = pos - this.paraStart;
      this.paraStart = 0;
    } else {
      this.buf = buf.slice(pos);
      this.pos = 0;
    }
  }

  private finishParagraph(end: number): void {
    if (this.paraStart === -1) return;
    this.paragraphs++;
    if (this.selected) this.onParagraph(parseParagraph(this.buf.slice(this.paraStart, end), this.paraLine));
    this.paraStart = -1;
  }
}

/** Parses a whole deb822 text into its paragraphs. */
export function parseDeb822(text: string): Deb822Paragraph[] {
  const out: Deb822Paragraph[] = [];
  const parser = new Deb822Parser({ onParagraph: (p) => out.push(p) });
  parser.write(text);
  parser.end();
  return out;
}
