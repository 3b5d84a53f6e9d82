// Errors the app expects, each with a code that maps to one HTTP status.
import { addBrand, hasBrand } from "./brand";

export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  NOT_CONFIGURED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "AppError";
    addBrand(this, "AppError");
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, "AppError");
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
