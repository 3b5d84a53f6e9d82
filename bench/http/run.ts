// Rows 4–7 alone: `npx tsx --conditions=react-server bench/http/run.ts [--quick]`. Prints the figures as JSON.
import { httpFigures } from "../http";

const figures = await httpFigures({ quick: process.argv.includes("--quick"), log: (line) => console.error(line) });
console.log(JSON.stringify(figures, null, 2));
