// The largest request body each part of the app accepts. Pure: proxy.ts, route handlers and tests share it.

/** JSON API bodies are small objects: a version, a reason, a few flags. */
export const API_BODY_LIMIT = 64 * 1024;
/** next-auth's forms: CSRF token, user name (≤ 100), password (≤ 1000), callback URL. */
export const AUTH_BODY_LIMIT = 8 * 1024;

export function bodyLimitFor(pathname: string): number {
  return pathname === "/api/auth" || pathname.startsWith("/api/auth/") ? AUTH_BODY_LIMIT : API_BODY_LIMIT;
}

export function tooLargeMessage(limit: number): string {
  return `The request body is larger than ${Math.round(limit / 1024)} KiB, the most this endpoint accepts.`;
}
