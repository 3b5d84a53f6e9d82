// The database's own troubles (disk full, another writer holding it, a read-only file), told apart
// from bugs so a request can answer what happened, that nothing was changed, and what to do.

const PROBLEMS: { pattern: RegExp; message: string }[] = [
  {
    pattern: /SQLITE_FULL|database or disk is full|No space left on device|ENOSPC|could not extend file|disk full/i,
    message: "The database's disk is full: nothing was changed. Free space on the database volume and try again.",
  },
  {
    pattern: /SQLITE_BUSY|database is locked|database table is locked/i,
    message: "The database is busy (another writer holds it): nothing was changed. Try again in a moment.",
  },
  {
    pattern: /SQLITE_READONLY|attempt to write a readonly database/i,
    message: "The database cannot be written (read-only file or volume): nothing was changed.",
  },
  {
    pattern: /SQLITE_IOERR|disk I\/O error/i,
    message: "The database could not write to its disk (I/O error): nothing was changed. Check the database volume.",
  },
];

/** Every message and code on an error and its causes (Prisma wraps the driver's error). */
function describe(e: unknown, depth = 0): string {
  if (!e || typeof e !== "object" || depth > 5) return typeof e === "string" ? e : "";
  const o = e as { message?: unknown; code?: unknown; cause?: unknown; meta?: unknown };
  let meta = "";
  try {
    meta = o.meta ? JSON.stringify(o.meta) : "";
  } catch {
    // Not serialisable; the message is enough.
  }
  return [String(o.message ?? ""), String(o.code ?? ""), meta, describe(o.cause, depth + 1)].join(" ");
}

/** A sentence for a person when `e` is a storage problem of the database, else null. */
export function storageProblem(e: unknown): string | null {
  const text = describe(e);
  return PROBLEMS.find((p) => p.pattern.test(text))?.message ?? null;
}
