import "server-only";
import { randomUUID } from "node:crypto";
import type { Actor } from "./audit/log";

// Work that runs in the background of the server process (a repository read, a fleet probe, a
// deployment): one run per key at a time, which later callers join, and timers that start runs.
// Kept on globalThis: Next loads a module once per module graph, and every graph must see the
// same runs.

/** The same person (or the system) from the same kind of client. */
export function sameActor(a: Actor, b: Actor): boolean {
  return a.id === b.id && a.name === b.name && a.source === b.source;
}

export interface BackgroundRun<R, P> {
  readonly id: string;
  readonly kind: string;
  readonly key: string;
  /** Who started it. */
  readonly actor: Actor;
  readonly startedAt: Date;
  /** False once the work has ended; nobody joins the run after that. */
  running: boolean;
  finishedAt: Date | null;
  /** Updated by the work as it goes; read by pages and the API while it runs. */
  readonly progress: P;
  /** People whose call joined this run although someone else started it; complete once running is false. */
  readonly joiners: Actor[];
  /** Settles with the work's result once it has ended and the joiners have been recorded. */
  readonly promise: Promise<R>;
}

export interface RunRequest<R, P> {
  key: string;
  actor: Actor;
  /** The progress object a run started by this call begins with. */
  progress: () => P;
  /** The work of a run started by this call. */
  work: (run: BackgroundRun<R, P>) => Promise<R>;
  /**
   * Whether this call can settle for the run already going for its key. When not, the call waits
   * for that run to end and then joins or starts the next one. Default: it can.
   */
  accepts?: (running: BackgroundRun<R, P>) => boolean;
}

export interface BackgroundRuns<R, P> {
  /**
   * Starts the work for a key, or joins the run going for it. A call that starts the run, the
   * system's, and one by the run's own starter get the run's promise itself; a person joining
   * someone else's run is added to its joiners.
   */
  joinOrStart(request: RunRequest<R, P>): Promise<R>;
  /** The run going now for the key. */
  running(key: string): BackgroundRun<R, P> | undefined;
  /** The run going now for the key, else the last one since the process started. */
  latest(key: string): BackgroundRun<R, P> | undefined;
}

export interface BackgroundRunsOptions<R, P> {
  /**
   * Records the people who joined a run that ended with a result (the run's own audit event names
   * only its starter, and a scheduled run may write none). Called once, with all of them; a
   * failure is logged and does not fail the run.
   */
  recordJoined?: (joiners: readonly Actor[], result: R, run: BackgroundRun<R, P>) => Promise<void>;
}

interface Registry {
  running: Map<string, BackgroundRun<unknown, unknown>>;
  latest: Map<string, BackgroundRun<unknown, unknown>>;
  timers: Map<string, Timer>;
}

const registry = ((globalThis as unknown as { scapBackground?: Registry }).scapBackground ??= {
  running: new Map(),
  latest: new Map(),
  timers: new Map(),
});

/** The runs of one kind of work (e.g. "builds.refresh"), keyed by what they work on. */
export function backgroundRuns<R, P>(kind: string, options: BackgroundRunsOptions<R, P> = {}): BackgroundRuns<R, P> {
  const slot = (key: string) => `${kind}\u0000${key}`;
  const running = (key: string) => registry.running.get(slot(key)) as BackgroundRun<R, P> | undefined;

  function start(request: RunRequest<R, P>): BackgroundRun<R, P> {
    const s = slot(request.key);
    let settle!: { resolve: (r: R) => void; reject: (e: unknown) => void };
    const promise = new Promise<R>((resolve, reject) => (settle = { resolve, reject }));
    const run: BackgroundRun<R, P> = {
      id: randomUUID(),
      kind,
      key: request.key,
      actor: request.actor,
      startedAt: new Date(),
      running: true,
      finishedAt: null,
      progress: request.progress(),
      joiners: [],
      promise,
    };
    const end = () => {
      run.running = false;
      run.finishedAt = new Date();
      if (registry.running.get(s) === run) registry.running.delete(s);
    };
    registry.running.set(s, run);
    registry.latest.set(s, run);
    // The work starts on the next microtask, so it sees its run registered.
    Promise.resolve()
      .then(() => request.work(run))
      .then(
        async (result) => {
          end();
          if (run.joiners.length > 0 && options.recordJoined) {
            await options.recordJoined(run.joiners, result, run).catch((e: unknown) => console.error(`${kind}: recording the requests that joined a run failed`, e));
          }
          settle.resolve(result);
        },
        (e: unknown) => {
          end();
          settle.reject(e);
        },
      );
    return run;
  }

  function joinOrStart(request: RunRequest<R, P>): Promise<R> {
    const current = running(request.key);
    if (!current) return start(request).promise;
    if (request.accepts && !request.accepts(current)) {
      const again = () => joinOrStart(request);
      return current.promise.then(again, again);
    }
    if (request.actor.source !== "system" && !sameActor(request.actor, current.actor)) current.joiners.push(request.actor);
    return current.promise;
  }

  return {
    joinOrStart,
    running,
    latest: (key) => registry.latest.get(slot(key)) as BackgroundRun<R, P> | undefined,
  };
}

export interface Timer {
  stop(): void;
}

export interface TimerSpec<C> {
  /** Read anew before every tick; null or undefined while there is nothing to work on (no config). */
  config: () => C | null | undefined;
  /** Time from the end of one tick to the next, from the config just read. */
  intervalMs: (config: C) => number;
  /** One tick's work; the next tick is scheduled once it has settled. */
  run: (config: C) => Promise<unknown>;
  /** Before the first tick; default 0. */
  initialDelayMs?: number;
  /** Until the next tick when there was no config or reading it failed; default one minute. */
  idleMs?: number;
}

/**
 * Runs `run` now (or after initialDelayMs) and again intervalMs after each tick has ended, so
 * ticks never overlap. The timer does not keep the process alive; errors are logged, never thrown.
 * Starting a timer of the same name again replaces the previous one.
 */
export function startTimer<C>(name: string, spec: TimerSpec<C>): Timer {
  registry.timers.get(name)?.stop();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };
  const tick = async () => {
    let next = spec.idleMs ?? 60_000;
    try {
      const config = spec.config();
      if (config !== null && config !== undefined) {
        next = spec.intervalMs(config);
        await spec.run(config);
      }
    } catch (e) {
      console.error(`${name}: scheduled run failed`, e);
    } finally {
      schedule(next);
    }
  };
  const handle: Timer = {
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (registry.timers.get(name) === handle) registry.timers.delete(name);
    },
  };
  registry.timers.set(name, handle);
  schedule(spec.initialDelayMs ?? 0);
  return handle;
}
