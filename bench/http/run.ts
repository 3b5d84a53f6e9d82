// Rows 4–7 alone: `npx tsx --conditions=react-server bench/http/run.ts [--quick] [--row 6]`. Prints
// the figures as JSON. `--row 6` runs only the promotion under live viewers.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { httpFigures } from "../http";
import { ensureBuild } from "./app";
import { promotionFigures } from "./promotion";
import { FULL, QUICK, template } from "./setup";

const log = (line: string) => console.error(line);
const quick = process.argv.includes("--quick");
let figures;
if (process.argv.includes("--row") && process.argv[process.argv.indexOf("--row") + 1] === "6") {
  ensureBuild(process.cwd(), log);
  const dir = mkdtempSync(path.join(os.tmpdir(), "scap-bench-http-"));
  try {
    figures = (await promotionFigures(process.cwd(), dir, template(process.cwd(), dir), quick ? QUICK : FULL, log)).figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else figures = await httpFigures({ quick, log });
console.log(JSON.stringify(figures, null, 2));
