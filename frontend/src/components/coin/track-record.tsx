"use client";
// The live track record: past forecasts against what happened, newest first, from the
// coin's forecast ledger (served forecasts and the challengers run in shadow beside them).
import { Check, X } from "lucide-react";
import { useEffect, useState } from "react";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { formatNumber, formatPercent, formatPrice } from "@/lib/format";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import { Pager } from "../pager";
import { EmptyState, ErrorState, LoadingRows } from "../states";
import { Time } from "../time";
import { Badge } from "../ui/badge";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";

const PAGE_SIZE = 10;
type Entry = Schemas["LedgerEntry"];

function Inside({ value }: { value: boolean | null }) {
  if (value === null) return <span className="text-muted-foreground">—</span>;
  return value ? (
    <span className="inline-flex items-center gap-1 text-positive">
      <Check aria-hidden className="size-4" /> Yes
    </span>
  ) : (
    <span className="inline-flex items-center gap-1 text-negative">
      <X aria-hidden className="size-4" /> No
    </span>
  );
}

/** The error as a share of the actual price, signed: above the actual is positive. */
function relativeError(entry: Entry): number | null {
  return entry.error === null || !entry.actual ? null : (entry.error / entry.actual) * 100;
}

export function TrackRecord({ coin, refreshToken }: { coin: string; refreshToken: number }) {
  const [page, setPage] = useState(1);
  const scored = useApi(`ledger:${coin}:${page}`, (signal) =>
    unwrap(
      api.GET("/api/v1/forecasts/{coin}/history", {
        params: { path: { coin }, query: { scored: true, limit: PAGE_SIZE, offset: pageOffset(page, PAGE_SIZE) } },
        signal,
      }),
    ),
  );
  const pending = useApi(`ledger-pending:${coin}`, (signal) =>
    unwrap(
      api.GET("/api/v1/forecasts/{coin}/history", {
        params: { path: { coin }, query: { scored: false, limit: 1 } },
        signal,
      }),
    ),
  );
  const { reload: reloadScored } = scored;
  const { reload: reloadPending } = pending;
  useEffect(() => {
    if (refreshToken === 0) return;
    reloadScored();
    reloadPending();
  }, [refreshToken, reloadScored, reloadPending]);

  const info = pageInfo(page, PAGE_SIZE, scored.data?.total ?? 0);
  const waiting = pending.data?.total ?? 0;

  return (
    <Card aria-labelledby="track-record-title">
      <CardHeader>
        <CardTitle id="track-record-title">Live track record</CardTitle>
        <CardDescription>
          Past forecasts against the price that followed, served ones and the challengers run beside them.
          {waiting > 0 ? ` ${formatNumber(waiting)} more await their target dates.` : ""}
        </CardDescription>
      </CardHeader>
      <CardContent>
        {scored.error ? (
          <ErrorState error={scored.error} title="Could not load the track record" retry={reloadScored} />
        ) : !scored.data ? (
          <LoadingRows rows={4} label="Loading the track record" />
        ) : scored.data.total === 0 ? (
          <EmptyState title="No forecast has been scored yet">
            Each forecast is scored once the price at its target date is stored
            {waiting > 0 ? `; ${formatNumber(waiting)} ${waiting === 1 ? "is" : "are"} waiting.` : "."}
          </EmptyState>
        ) : (
          <>
            <div className="rounded-md border">
              <Table aria-label="Scored forecasts">
                <TableHeader>
                  <TableRow className="hover:bg-transparent">
                    <TableHead>Target date</TableHead>
                    <TableHead>Horizon</TableHead>
                    <TableHead>Model</TableHead>
                    <TableHead className="text-right">Forecast</TableHead>
                    <TableHead className="text-right">Actual</TableHead>
                    <TableHead className="text-right">Error</TableHead>
                    <TableHead>Inside 80 %</TableHead>
                    <TableHead>Inside 95 %</TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {scored.data.items.map((entry) => (
                    <TableRow key={entry.id}>
                      <TableCell>
                        <Time iso={entry.target_at} dateOnly />
                      </TableCell>
                      <TableCell className="tabular-nums">
                        {entry.horizon} {entry.horizon === 1 ? "day" : "days"}
                      </TableCell>
                      <TableCell>
                        <span className="mr-2">
                          {entry.model.kind} v{entry.model.version}
                        </span>
                        {entry.role === "shadow" ? <Badge variant="secondary">shadow</Badge> : <Badge variant="outline">served</Badge>}
                      </TableCell>
                      <TableCell className="text-right tabular-nums">{formatPrice(entry.point)}</TableCell>
                      <TableCell className="text-right tabular-nums">{formatPrice(entry.actual)}</TableCell>
                      <TableCell
                        className="text-right tabular-nums"
                        title={entry.error === null ? undefined : `Forecast minus actual: ${formatPrice(entry.error)}`}
                      >
                        {formatPercent(relativeError(entry))}
                      </TableCell>
                      <TableCell>
                        <Inside value={entry.inside_80} />
                      </TableCell>
                      <TableCell>
                        <Inside value={entry.inside_95} />
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </div>
            <Pager info={info} onPage={setPage} label="Track record pages" noun="scored forecasts" />
          </>
        )}
      </CardContent>
    </Card>
  );
}
