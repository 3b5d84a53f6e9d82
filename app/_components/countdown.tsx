"use client";
import { useEffect, useState } from "react";

function left(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${sec} s` : `${sec} s`;
}

/** "4 min 12 s left", ticking; `done` once the time has come. */
export function Countdown({ until, done = "any moment now" }: { until: string; done?: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const ms = Date.parse(until) - now;
  return (
    <span className="tabular-nums" data-testid="countdown" title={until}>
      {ms > 0 ? `${left(ms)} left` : done}
    </span>
  );
}
