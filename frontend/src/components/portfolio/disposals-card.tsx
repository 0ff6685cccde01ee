"use client";
import { useState } from "react";
import { api, unwrap } from "@/lib/api/client";
import { formatDecimal, formatMoney } from "@/lib/decimal";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import { Pager } from "../pager";
import { EmptyState, ErrorState, LoadingRows } from "../states";
import { Time } from "../time";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";
import { Signed } from "./holdings-card";

const PAGE = 20;

/** Sales and transfers out with their realised P&L and the lots each one consumed. */
export function DisposalsCard({ portfolioId, refresh }: { portfolioId: number; refresh: string }) {
  const [pageNumber, setPageNumber] = useState(1);
  const offset = pageOffset(pageNumber, PAGE);
  const disposals = useApi(`disposals:${portfolioId}:${offset}:${refresh}`, (signal) =>
    unwrap(
      api.GET("/api/v1/portfolios/{portfolio_id}/disposals", {
        params: { path: { portfolio_id: portfolioId }, query: { limit: PAGE, offset } },
        signal,
      }),
    ),
  );
  const page = disposals.data;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Realised P&L</CardTitle>
        <CardDescription>Each sale and transfer out, and the buys it took coins from.</CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-3">
        {disposals.error ? (
          <ErrorState error={disposals.error} title="Could not load the realised P&L" retry={disposals.reload} />
        ) : !page ? (
          <LoadingRows rows={3} label="Loading the realised P&L" />
        ) : page.total === 0 ? (
          <EmptyState title="Nothing sold yet" />
        ) : (
          <>
            <Table aria-label="Realised P&L">
              <TableHeader>
                <TableRow>
                  <TableHead scope="col">When</TableHead>
                  <TableHead scope="col">Sold</TableHead>
                  <TableHead scope="col" className="text-right">Proceeds</TableHead>
                  <TableHead scope="col" className="text-right">Cost</TableHead>
                  <TableHead scope="col" className="text-right">Realised</TableHead>
                  <TableHead scope="col">From lots</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {page.items.map((d) => (
                  <TableRow key={d.transaction_id}>
                    <TableCell>
                      <Time iso={d.executed_at} />
                    </TableCell>
                    <TableCell>
                      {formatDecimal(d.quantity)} <span className="uppercase">{d.coin.symbol}</span>
                      {d.kind === "transfer_out" ? (
                        <span className="block text-xs text-muted-foreground">transfer out</span>
                      ) : null}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{formatMoney(d.proceeds)}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {d.cost === null ? "Unknown" : formatMoney(d.cost)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {d.realized_pnl === null ? (
                        "Unknown"
                      ) : (
                        <Signed value={d.realized_pnl}>{formatMoney(d.realized_pnl, { signed: true })}</Signed>
                      )}
                    </TableCell>
                    <TableCell className="text-xs text-muted-foreground">
                      <ul>
                        {d.lots.map((lot) => (
                          <li key={lot.transaction_id}>
                            {formatDecimal(lot.quantity)} bought <Time iso={lot.acquired_at} /> at{" "}
                            {lot.unit_cost === null ? "an unknown cost" : formatMoney(lot.unit_cost)}
                          </li>
                        ))}
                      </ul>
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
            <Pager
              info={pageInfo(pageNumber, PAGE, page.total)}
              onPage={setPageNumber}
              label="Realised P&L pages"
              noun="disposals"
            />
          </>
        )}
      </CardContent>
    </Card>
  );
}
