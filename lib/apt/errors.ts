// Why a repository read failed, in words a release engineer can act on.
import { addBrand, hasBrand } from "../brand";
import { AppError } from "../errors";

export const REPOSITORY_ERROR_KINDS = [
  "bad-signature",
  "unknown-key",
  "hash-mismatch",
  "expired",
  "unreachable",
  "parse-error",
  "too-large",
  "not-found",
] as const;

export type RepositoryErrorKind = (typeof REPOSITORY_ERROR_KINDS)[number];

/**
 * A repository that cannot be read or must not be trusted. The message names the file (as a URL
 * or path) and what was expected against what was found; it never carries a stack trace.
 */
export class RepositoryError extends AppError {
  constructor(
    readonly kind: RepositoryErrorKind,
    message: string,
    /** The URL or file the problem is about. */
    readonly file?: string,
  ) {
    super("UNAVAILABLE", message, { kind, ...(file ? { file } : {}) });
    this.name = "RepositoryError";
    addBrand(this, "RepositoryError");
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, "RepositoryError");
  }
}
