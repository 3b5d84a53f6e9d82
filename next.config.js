// @ts-check

// Next's own inline scripts (hydration data, the theme script in app/layout.tsx) carry no nonce on
// prerendered pages, so scripts are 'self' plus inline; everything else is locked to this origin.
// React's development build needs eval.
const scriptSrc = ["'self'", "'unsafe-inline'", ...(process.env.NODE_ENV === "development" ? ["'unsafe-eval'"] : [])];
const contentSecurityPolicy = [
  "default-src 'self'",
  `script-src ${scriptSrc.join(" ")}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders = [
  { key: "Content-Security-Policy", value: contentSecurityPolicy },
  { key: "X-Frame-Options", value: "DENY" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "Referrer-Policy", value: "same-origin" },
];

/** @type {import("next").NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Native and SSH modules stay as Node requires, not bundled.
  serverExternalPackages: ["better-sqlite3", "@prisma/adapter-better-sqlite3", "ssh2", "node-ssh", "cpu-features", "xz-decompress"],
  devIndicators: false,
  experimental: {
    // proxy.ts makes Next buffer request bodies (twice) up to this size, and cut longer ones here.
    // Every route accepts at most 64 KiB (lib/body-limits.ts) and a cut body is still longer
    // than that (socket reads are at most 64 KiB), so the route refuses it with 413.
    proxyClientMaxBodySize: 256 * 1024,
  },
  async headers() {
    return [{ source: "/:path*", headers: securityHeaders }];
  },
};

export default nextConfig;
