// @ts-check
/** @type {import("next").NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Native and SSH modules stay as Node requires, not bundled.
  serverExternalPackages: ["better-sqlite3", "@prisma/adapter-better-sqlite3", "ssh2", "node-ssh", "cpu-features", "xz-decompress"],
  devIndicators: false,
};

export default nextConfig;
