// Next.js loads instrumentation.ts and the routes as separate module graphs, each with its own copy
// of a class. An error made by one copy (say, by the SSH transport the background timer created)
// then fails `instanceof` against the other. Error classes carry a brand and test for it instead.

const BRANDS = Symbol.for("scap-channels.brands");

type Branded = { [BRANDS]?: string[] };

export function addBrand(obj: object, name: string): void {
  ((obj as Branded)[BRANDS] ??= []).push(name);
}

export function hasBrand(value: unknown, name: string): boolean {
  return typeof value === "object" && value !== null && ((value as Branded)[BRANDS]?.includes(name) ?? false);
}
