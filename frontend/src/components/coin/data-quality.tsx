"use client";
// How complete the coin's stored daily history is, from GET /prices/{coin}/gaps.
import { api, unwrap } from "@/lib/api/client";
import { formatDate, formatNumber } from "@/lib/format";
import { useApi } from "@/lib/use-api";
import { Badge } from "../ui/badge";
import { Skeleton } from "../ui/skeleton";

/** `noPrices`: the coin has no stored price at all (a gap report of nothing is no praise). */
export function DataQualityBadge({ coin, noPrices = false }: { coin: string; noPrices?: boolean }) {
  const { data, error } = useApi(`gaps:${coin}`, (signal) =>
    unwrap(api.GET("/api/v1/prices/{coin}/gaps", { params: { path: { coin }, query: { interval: "1d" } }, signal })),
  );
  if (noPrices) {
    return (
      <Badge variant="warning" data-testid="data-quality">
        No prices stored
      </Badge>
    );
  }
  if (error) return <span className="text-muted-foreground">unknown</span>;
  if (!data) return <Skeleton className="inline-block h-5 w-28 align-middle" />;
  if (data.missing_total === 0) {
    return (
      <Badge variant="positive" data-testid="data-quality">
        Complete daily history
      </Badge>
    );
  }
  const gaps = data.gaps.length;
  const title = data.gaps
    .slice(0, 5)
    .map((gap) => `${formatDate(gap.start)} – ${formatDate(gap.end)}: ${formatNumber(gap.missing)} missing`)
    .join("\n");
  return (
    <Badge variant="warning" data-testid="data-quality" title={title}>
      {formatNumber(gaps)} {gaps === 1 ? "gap" : "gaps"} · {formatNumber(data.missing_total)} days missing
    </Badge>
  );
}
