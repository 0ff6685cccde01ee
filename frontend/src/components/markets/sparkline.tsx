import { sparklineLabel, sparklinePath, sparklineTrend } from "@/lib/charts/sparkline";
import { cn } from "@/lib/utils";

const TONE = {
  up: "text-positive",
  down: "text-negative",
  flat: "text-muted-foreground",
  none: "text-muted-foreground",
} as const;

/** A small inline trend line, named for screen readers ("7-day trend: up 4.2 %"). */
export function Sparkline({
  prices,
  width = 96,
  height = 28,
  className,
}: {
  prices: readonly number[];
  width?: number;
  height?: number;
  className?: string;
}) {
  const label = sparklineLabel(prices);
  const path = sparklinePath(prices, width, height, 2);
  if (!path) {
    // Fewer than two prices: a dash says so better than an empty box.
    return (
      <span className={cn("inline-block text-right text-muted-foreground", className)} style={{ width }}>
        <span aria-hidden>—</span>
        <span className="sr-only">{label}</span>
      </span>
    );
  }
  return (
    <svg
      role="img"
      aria-label={label}
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      className={cn(TONE[sparklineTrend(prices)], className)}
    >
      <title>{label}</title>
      <path
        d={path}
        fill="none"
        stroke="currentColor"
        strokeWidth={1.5}
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}
