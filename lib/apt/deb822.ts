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

const NL = 10;
const UTF8_BOM = [0xef, 0xbb, 0xbf];
// "K" (U+212A KELVIN SIGN) is the one non-ASCII character whose toLowerCase() is ASCII ("k").
const KELVIN = [0xe2, 0x84, 0xaa];

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** The whitespace String.prototype.trim removes that is ASCII; the rest of it is not ASCII. */
function isAsciiTrimmed(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

function isBlankBytes(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

/**
 * Offset of the value after `name` and its colon when the line [start, end) is that field, else -1.
 * `name` is lower-case ASCII; the line's name matches it as toLowerCase() would.
 */
function fieldValueStart(b: Uint8Array, start: number, end: number, name: Uint8Array): number {
  let i = start;
  for (let k = 0; k < name.length; k++) {
    const want = name[k]!;
    if (i >= end) return -1;
    const c = b[i]!;
    if (c === want || (c >= 65 && c <= 90 && c + 32 === want)) {
      i++;
      continue;
    }
    if (want === 107 /* k */ && c === KELVIN[0] && b[i + 1] === KELVIN[1] && b[i + 2] === KELVIN[2]) {
      i += 3;
      continue;
    }
    return -1;
  }
  return i < end && b[i] === COLON ? i + 1 : -1;
}

/**
 * Selects paragraphs on the raw UTF-8 bytes: the same paragraphs, line numbers, count and errors
 * as Deb822Parser with `select`, but only the selected paragraphs are decoded and parsed. Lines
 * are found with Buffer.indexOf; a line is looked at only for its first byte, except blank-looking
 * lines and lines that may be the selecting field. Input chunks are scanned where they are; only
 * the paragraph open at a chunk's end is copied.
 */
export class Deb822Selector {
  private readonly onParagraph: (p: Deb822Paragraph) => void;
  private readonly field: Uint8Array;
  /** Where the colon can be after the field's first byte: one more "k" may be U+212A, 2 bytes longer. */
  private readonly colonAt: number[];
  private readonly values: ReadonlySet<string>;
  private readonly valueBytes: Uint8Array[];
  /** Decodes selected paragraphs; a BOM inside the input is text, as it is for a whole-input decoder. */
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  /** The open paragraph's bytes from earlier chunks (it starts at 0 of the chunk being scanned), or null. */
  private prefix: Buffer | null = null;
  /** Bytes not yet scanned as whole lines: the open paragraph so far, or else the partial last line. */
  private carry: Buffer = Buffer.alloc(0);
  /** Offset in carry where its partial last line starts. */
  private carryLine = 0;
  private paraStart = -1;
  private paraLine = 0;
  private selected = false;
  private lineNo = 1;
  private atInputStart = true;
  private ended = false;
  paragraphs = 0;

  constructor(options: { onParagraph: (paragraph: Deb822Paragraph) => void; select: { field: string; values: Iterable<string> } }) {
    this.onParagraph = options.onParagraph;
    const field = options.select.field.toLowerCase();
    if (!/^[\x21-\x7e]+$/.test(field) || field.includes(":")) throw new Error(`Deb822Selector: field ${JSON.stringify(field)} is not a plain ASCII name`);
    this.field = Buffer.from(field, "latin1");
    const ks = field.split("k").length - 1;
    this.colonAt = Array.from({ length: ks + 1 }, (_, j) => field.length + 2 * j);
    this.values = new Set(options.select.values);
    this.valueBytes = [...this.values].map((v) => Buffer.from(v, "utf8"));
  }

  write(chunk: Uint8Array): void {
    if (this.ended) throw new Error("Deb822Selector: write after end");
    if (chunk.length === 0) return;
    let buf = asBuffer(chunk);
    if (this.atInputStart) {
      // A whole-input UTF-8 decoder drops a leading BOM; wait until three bytes tell.
      buf = this.carry.length > 0 ? Buffer.concat([this.carry, buf]) : buf;
      this.carry = buf;
      if (buf.length < 3) return;
      this.atInputStart = false;
      this.carry = Buffer.alloc(0);
      this.scan(buf, buf[0] === UTF8_BOM[0] && buf[1] === UTF8_BOM[1] && buf[2] === UTF8_BOM[2] ? 3 : 0, false);
      return;
    }
    if (this.carry.length > 0) {
      // The carried partial line, completed by this chunk's first line, is scanned on its own.
      const nl = buf.indexOf(NL);
      const joined = Buffer.concat([this.carry, nl === -1 ? buf : buf.subarray(0, nl + 1)]);
      this.scan(joined, this.carryLine, false);
      if (nl === -1) return;
      // joined ended with a line end: carry now holds the open paragraph, which this chunk continues.
      if (this.paraStart !== -1) this.prefix = this.carry;
      this.carry = Buffer.alloc(0);
      buf = buf.subarray(nl + 1);
    }
    this.scan(buf, 0, false);
  }

  end(): void {
    if (this.ended) return;
    this.atInputStart = false;
    this.scan(this.carry, this.carryLine, true);
    this.finishParagraph(this.carry, this.carry.length);
    this.ended = true;
    this.carry = Buffer.alloc(0);
  }

  /** Scans `buf` from `pos`; what is left unfinished goes to carry. */
  private scan(buf: Buffer, pos: number, final: boolean): void {
    const first = this.field[0]! | 0x20;
    for (;;) {
      let nl = buf.indexOf(NL, pos);
      if (nl === -1) {
        if (!final || pos >= buf.length) break;
        nl = buf.length;
      }
      const lineStart = pos;
      const lineNo = this.lineNo++;
      pos = nl + 1;
      const c = buf[lineStart]!;
      if (nl === lineStart || c === CR || c === SPACE || c === TAB) {
        if (isBlankBytes(buf, lineStart, nl)) {
          this.finishParagraph(buf, lineStart);
          continue;
        }
        if (this.paraStart === -1) throw new Deb822Error(lineNo, "continuation line before any field");
        continue;
      }
      if (c === HASH) continue;
      if (this.paraStart === -1) {
        this.paraStart = lineStart;
        this.paraLine = lineNo;
        this.selected = false;
      }
      if (!this.selected && ((c | 0x20) === first || (first === 107 && c === KELVIN[0])) && this.colonMayFollow(buf, lineStart)) {
        this.selected = this.selects(buf, lineStart, nl);
      }
    }
    if (pos > buf.length) pos = buf.length;
    if (this.paraStart !== -1) {
      const own = buf.subarray(this.paraStart);
      this.carry = this.prefix ? Buffer.concat([this.prefix, own]) : own;
      this.carryLine = pos - this.paraStart + (this.prefix?.length ?? 0);
      this.prefix = null;
      this.paraStart = 0;
    } else {
      this.carry = buf.subarray(pos);
      this.carryLine = 0;
    }
  }

  private colonMayFollow(buf: Buffer, start: number): boolean {
    for (const i of this.colonAt) if (buf[start + i] === COLON) return true;
    return false;
  }

  /** Whether the line is the field with one of the values, trimmed as String.prototype.trim does. */
  private selects(buf: Buffer, start: number, end: number): boolean {
    const from = fieldValueStart(buf, start, end, this.field);
    if (from === -1) return false;
    let a = from;
    let z = end;
    while (a < z && isAsciiTrimmed(buf[a]!)) a++;
    while (z > a && isAsciiTrimmed(buf[z - 1]!)) z--;
    for (const v of this.valueBytes) if (v.length === z - a && buf.compare(v, 0, v.length, a, z) === 0) return true;
    for (let i = a; i < z; i++) {
      // Other whitespace trim() removes is not ASCII: only then is decoding the value needed.
      if (buf[i]! >= 0x80) return this.values.has(this.decoder.decode(buf.subarray(from, end)).trim());
    }
    return false;
  }

  private finishParagraph(buf: Buffer, end: number): void {
    if (this.paraStart === -1) return;
    this.paragraphs++;
    if (this.selected) {
      const own = buf.subarray(this.paraStart, end);
      const bytes = this.prefix ? Buffer.concat([this.prefix, own]) : own;
      this.onParagraph(parseParagraph(this.decoder.decode(bytes), this.paraLine));
    }
    this.prefix = null;
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
