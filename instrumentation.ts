// Once per server process: the inventory follows the config file (synced now and on every
// successful reload), then the background refresh of builds and hosts starts.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { watchConfigFile } = await import("./lib/config");
  const { keepInventoryInSync } = await import("./lib/fleet/inventory");
  watchConfigFile();
  await keepInventoryInSync();
  const { startSchedulers } = await import("./lib/scheduler");
  startSchedulers();
}
