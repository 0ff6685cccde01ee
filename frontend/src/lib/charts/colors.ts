// Theme colours for Chart.js: the CSS variables of globals.css, with transparency added.

/**
 * `color` with opacity `alpha` (0-1): oklch()/oklab()/rgb()/hsl() get a `/ alpha`
 * component (replacing one already there), #rgb and #rrggbb become rgb(); anything else
 * comes back unchanged.
 */
export function withAlpha(color: string, alpha: number): string {
  const value = color.trim();
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 1000) / 1000;
  const functional = /^(oklch|oklab|lch|lab|rgba?|hsla?)\((.*)\)$/i.exec(value);
  if (functional) {
    const name = functional[1]?.toLowerCase().replace(/a$/, "") ?? "rgb";
    const body = functional[2] ?? "";
    const channels = body.split("/")[0]?.trim() ?? "";
    const parts = channels.includes(",")
      ? channels.split(",").map((part) => part.trim())
      : channels.split(/\s+/);
    // rgba(1, 2, 3, 0.5): the fourth comma-separated part is an alpha already.
    return `${name}(${parts.slice(0, 3).join(" ")} / ${a})`;
  }
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value)?.[1];
  if (hex) {
    const full = hex.length === 3 ? [...hex].map((c) => c + c).join("") : hex;
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16));
    return `rgb(${r} ${g} ${b} / ${a})`;
  }
  return value;
}

/** The colours a chart needs, read from the theme's CSS variables. */
export interface ChartColors {
  foreground: string;
  muted: string;
  border: string;
  primary: string;
  positive: string;
  negative: string;
  card: string;
}

/** Read the theme's colours from the document (the `dark` class switches them). */
export function readChartColors(element: Element = document.documentElement): ChartColors {
  const style = getComputedStyle(element);
  const get = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    foreground: get("--foreground", "#222"),
    muted: get("--muted-foreground", "#666"),
    border: get("--border", "#ddd"),
    primary: get("--primary", "#3355cc"),
    positive: get("--positive", "#2e8b57"),
    negative: get("--negative", "#c0392b"),
    card: get("--card", "#fff"),
  };
}
