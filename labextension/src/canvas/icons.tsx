/**
 * Node icons by `ui.icon` name: small inline SVGs (24×24, stroked, in the style of Lucide),
 * so the bundle carries no icon font. An unknown name draws a generic node glyph.
 */
import { memo } from "react";

const PATHS: Record<string, string[]> = {
  bug: [
    "M8 2l1.9 1.9",
    "M16 2l-1.9 1.9",
    "M9 7.1V6a3 3 0 0 1 6 0v1.1",
    "M12 20c-3.3 0-6-2.7-6-6v-3a4 4 0 0 1 4-4h4a4 4 0 0 1 4 4v3c0 3.3-2.7 6-6 6z",
    "M12 20v-9",
    "M6 13H2",
    "M22 13h-4",
    "M6.5 8.5L3 7",
    "M17.5 8.5L21 7",
    "M6 17l-3 2",
    "M18 17l3 2",
  ],
  clock: ["M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20z", "M12 6v6l4 2"],
  code: ["M16 18l6-6-6-6", "M8 6l-6 6 6 6"],
  columns: ["M3 3h18v18H3z", "M12 3v18"],
  "file-input": [
    "M4 22h14a2 2 0 0 0 2-2V7l-5-5H6a2 2 0 0 0-2 2v4",
    "M14 2v4a2 2 0 0 0 2 2h4",
    "M2 15h10",
    "M9 18l3-3-3-3",
  ],
  "file-output": [
    "M14 2v4a2 2 0 0 0 2 2h4",
    "M4 7V4a2 2 0 0 1 2-2h8l6 6v12a2 2 0 0 1-2 2H4",
    "M5 17l-3-3 3-3",
    "M2 14h10",
  ],
  filter: ["M22 3H2l8 9.46V19l4 2v-8.54L22 3z"],
  gauge: ["M12 14l4-4", "M3.34 19a10 10 0 1 1 17.32 0"],
  "git-branch": [
    "M6 3v12",
    "M18 6a3 3 0 1 0 0 .01z",
    "M6 15a3 3 0 1 0 0 6a3 3 0 1 0 0-6z",
    "M18 9a9 9 0 0 1-9 9",
  ],
  "git-merge": ["M18 15a3 3 0 1 0 0 6a3 3 0 1 0 0-6z", "M6 3a3 3 0 1 0 0 6a3 3 0 1 0 0-6z", "M6 21V9a9 9 0 0 0 9 9"],
  globe: ["M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20z", "M2 12h20", "M12 2a15.3 15.3 0 0 1 4 10 15.3 15.3 0 0 1-4 10 15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z"],
  layers: ["M12 2L2 7l10 5 10-5-10-5z", "M2 17l10 5 10-5", "M2 12l10 5 10-5"],
  link: [
    "M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71",
    "M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71",
  ],
  play: ["M6 3l14 9-14 9V3z"],
  "refresh-cw": [
    "M3 12a9 9 0 0 1 9-9 9.75 9.75 0 0 1 6.74 2.74L21 8",
    "M21 3v5h-5",
    "M21 12a9 9 0 0 1-9 9 9.75 9.75 0 0 1-6.74-2.74L3 16",
    "M8 16H3v5",
  ],
  shuffle: ["M16 3h5v5", "M4 20L21 3", "M21 16v5h-5", "M15 15l6 6", "M4 4l5 5"],
  sigma: ["M18 7V4H6l6 8-6 8h12v-3"],
  webhook: [
    "M18 16.98h-5.99c-1.1 0-1.95.94-2.48 1.9A4 4 0 0 1 2 17c.01-.7.2-1.4.57-2",
    "M6 17l3.13-5.78c.53-.97.1-2.18-.5-3.1a4 4 0 1 1 6.89-4.06",
    "M12 6l3.13 5.73C15.66 12.7 16.9 13 18 13a4 4 0 0 1 0 8",
  ],
  box: [
    "M21 8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16z",
    "M3.3 7L12 12l8.7-5",
    "M12 22V12",
  ],
};

const FALLBACK = ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z"];

export const NodeIcon = memo(function NodeIcon({ name, size = 14 }: { name: string; size?: number }) {
  const paths = PATHS[name] ?? FALLBACK;
  return (
    <svg
      className="dfj-icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={2}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      data-icon={PATHS[name] ? name : "generic"}
    >
      {paths.map((d, i) => (
        <path key={i} d={d} />
      ))}
    </svg>
  );
});
