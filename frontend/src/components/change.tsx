import { formatPercent } from "@/lib/format";
import { cn } from "@/lib/utils";

/** A signed percentage change, green up and red down (the sign is in the text too). */
export function Change({ value, className }: { value: number | null | undefined; className?: string }) {
  const tone =
    value === null || value === undefined || value === 0
      ? "text-muted-foreground"
      : value > 0
        ? "text-positive"
        : "text-negative";
  return <span className={cn("tabular-nums", tone, className)}>{formatPercent(value)}</span>;
}
