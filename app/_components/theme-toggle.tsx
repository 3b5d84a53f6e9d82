"use client";

export function ThemeToggle() {
  function toggle() {
    const dark = document.documentElement.classList.toggle("dark");
    try {
      localStorage.setItem("theme", dark ? "dark" : "light");
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  }
  return (
    <button type="button" onClick={toggle} className="btn-secondary px-2" title="Switch light/dark theme" aria-label="Switch light/dark theme">
      <svg viewBox="0 0 20 20" className="h-4 w-4" fill="currentColor" aria-hidden>
        <path d="M10 2a8 8 0 1 0 8 8 6 6 0 0 1-8-8Z" />
      </svg>
    </button>
  );
}
