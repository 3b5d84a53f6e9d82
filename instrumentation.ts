// Starts the background refresh of builds and hosts once per server process.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { startSchedulers } = await import("./lib/scheduler");
  startSchedulers();
}
