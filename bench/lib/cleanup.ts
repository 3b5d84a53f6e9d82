// Everything a benchmark starts (sandboxes, repositories, servers, temp folders) registers how to
// stop it here, so a failure or Ctrl-C in any module still leaves nothing running.

type Task = () => Promise<unknown> | unknown;

const tasks: Task[] = [];

/** Registers a stop step; the returned function runs it now (once) and unregisters it. */
export function onCleanup(task: Task): () => Promise<void> {
  let done = false;
  const wrapped: Task = async () => {
    if (done) return;
    done = true;
    await task();
  };
  tasks.push(wrapped);
  return async () => {
    const i = tasks.indexOf(wrapped);
    if (i >= 0) tasks.splice(i, 1);
    await wrapped();
  };
}

/** Runs every registered step, newest first; a failing step does not stop the others. */
export async function runCleanups(log: (line: string) => void = console.error): Promise<void> {
  while (tasks.length > 0) {
    const task = tasks.pop()!;
    try {
      await task();
    } catch (e) {
      log(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

let installed = false;

/** On SIGINT/SIGTERM: run every cleanup step, then exit 130 (143). A second signal exits at once. */
export function cleanUpOnSignals(log: (line: string) => void = console.error): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(code);
      stopping = true;
      log(`${signal}: stopping everything the benchmark started…`);
      void runCleanups(log).finally(() => process.exit(code));
    });
  }
}
