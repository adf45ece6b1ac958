/** Small pure formatters shared by the node badge, edge labels and panels. */

/** 999 → "999", 1234 → "1.2k", 56789 → "57k", 1234567 → "1.2M". */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  const fmt = (v: number, unit: string) => `${v < 10 ? v.toFixed(1).replace(/\.0$/, "") : Math.round(v)}${unit}`;
  if (abs < 1000) return String(Math.round(n));
  if (abs < 1e6) return (n < 0 ? "-" : "") + fmt(abs / 1e3, "k");
  if (abs < 1e9) return (n < 0 ? "-" : "") + fmt(abs / 1e6, "M");
  return (n < 0 ? "-" : "") + fmt(abs / 1e9, "G");
}

/**
 * An ISO time from a timestamp in ns, µs, ms or s since the epoch (guessed from its size, as
 * ErrorPacket timestamps are ns while other sources use ms or s); the input as text if invalid.
 */
export function isoTime(ts: number | bigint | string | null | undefined): string {
  if (ts === null || ts === undefined || ts === "") return "";
  const n = typeof ts === "bigint" ? Number(ts) : Number(ts);
  if (!Number.isFinite(n)) return String(ts);
  const abs = Math.abs(n);
  const ms = abs >= 1e17 ? n / 1e6 : abs >= 1e14 ? n / 1e3 : abs >= 1e11 ? n : n * 1000;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString();
}

export const cls = (...names: (string | false | null | undefined)[]): string => names.filter(Boolean).join(" ");
