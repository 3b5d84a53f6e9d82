// Writes N audit events, each in its own transaction, into DATABASE_URL: the second process of the
// concurrent-writers test (run with `tsx --conditions=react-server`).
import { recordAudit } from "../log";
import { getDb } from "../../db";

const count = Number(process.argv[2] ?? 50);
const name = process.argv[3] ?? "child";
const db = getDb();
await Promise.all(
  Array.from({ length: count }, (_, i) =>
    db.$transaction((tx) => recordAudit(tx, { id: null, name, source: "cli", role: "admin" }, "user.add", `${name}-${i}`, { role: "viewer" }), { timeout: 60_000, maxWait: 60_000 }),
  ),
);
await db.$disconnect();
console.log(`wrote ${count}`);
