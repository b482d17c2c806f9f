const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/**
 * Seconds from `900`, `90s`, `15m`, `2h`, `1d` or a sum such as `1h30m`; null when the text is
 * none of those or not positive. Fractions are allowed (`1.5h`).
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return positive(Number(trimmed));
  if (!/^(\d+(\.\d+)?[smhd])+$/.test(trimmed)) return null;
  let seconds = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)([smhd])/g)) seconds += Number(amount) * UNIT_SECONDS[unit];
  return positive(seconds);
}

function positive(seconds: number): number | null {
  return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}

/** `4m 12s`, `2h 5m`, `800ms`: short, for progress lines. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  let s = Math.round(ms / 1_000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3_600);
  s -= h * 3_600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = d ? [`${d}d`, `${h}h`] : h ? [`${h}h`, `${m}m`] : m ? [`${m}m`, `${s}s`] : [`${s}s`];
  return parts.filter((p, i) => i === 0 || !/^0/.test(p)).join(' ');
}
