"use client";
// The Markets page: every tracked coin with price, 24 h and 7 d change, market cap and a
// 7-day sparkline; searched, sorted by the column headers and paged on the client. Polls
// every minute and takes live prices from the stream in between.
import { ArrowDown, ArrowUp, ArrowUpDown, Search } from "lucide-react";
import Link from "next/link";
import { useMemo, useState } from "react";
import { Change } from "@/components/change";
import { Pager } from "@/components/pager";
import { EmptyState, ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { fetchMarkets } from "@/lib/api/markets";
import { formatCompactUsd, formatNumber, formatPrice } from "@/lib/format";
import {
  applyLivePrices,
  change24h,
  DEFAULT_SORT,
  nextSort,
  searchRows,
  sortRows,
  type LivePrice,
  type MarketRow,
  type Sort,
  type SortKey,
} from "@/lib/markets";
import { pageInfo, pageItems } from "@/lib/paging";
import { useLiveEvents } from "@/lib/stream";
import { useApi } from "@/lib/use-api";
import { cn } from "@/lib/utils";
import { Sparkline } from "./sparkline";

const PAGE_SIZE = 25;
const EVERY_MINUTE = 60_000;

function SortHeader({
  label,
  column,
  sort,
  onSort,
  numeric = false,
}: {
  label: string;
  column: SortKey;
  sort: Sort;
  onSort: (key: SortKey) => void;
  numeric?: boolean;
}) {
  const active = sort.key === column;
  const Icon = !active ? ArrowUpDown : sort.direction === "ascending" ? ArrowUp : ArrowDown;
  return (
    <TableHead aria-sort={active ? sort.direction : undefined} className={cn(numeric && "text-right")}>
      <button
        type="button"
        onClick={() => onSort(column)}
        className={cn(
          "inline-flex items-center gap-1 rounded-sm py-1 hover:text-foreground focus-visible:outline-2 focus-visible:outline-ring",
          active && "text-foreground",
        )}
      >
        {label}
        <Icon aria-hidden className={cn("size-3.5", !active && "opacity-50")} />
      </button>
    </TableHead>
  );
}

function newestUpdate(rows: readonly MarketRow[]): string | null {
  let newest: string | null = null;
  for (const row of rows) {
    if (row.last_updated && (newest === null || Date.parse(row.last_updated) > Date.parse(newest))) {
      newest = row.last_updated;
    }
  }
  return newest;
}

export function MarketsTable() {
  const { data, error, loading, reload } = useApi("markets", fetchMarkets, EVERY_MINUTE);
  const [live, setLive] = useState<Record<string, LivePrice>>({});
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<Sort>(DEFAULT_SORT);
  const [page, setPage] = useState(1);

  useLiveEvents([], {
    price: (event) =>
      setLive((prev) => ({ ...prev, [event.coin]: { price: event.price, timestamp: event.timestamp } })),
    missed: reload,
  });

  const rows = useMemo(
    () => (data ? sortRows(searchRows(applyLivePrices(data, live), query), sort) : []),
    [data, live, query, sort],
  );
  const info = pageInfo(page, PAGE_SIZE, rows.length);
  const shown = pageItems(rows, info);
  const asOf = data ? newestUpdate(data) : null;

  const onSort = (key: SortKey) => {
    setSort((current) => nextSort(current, key));
    setPage(1);
  };
  const header = { sort, onSort };

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div className="flex w-full max-w-xs flex-col gap-1.5">
          <Label htmlFor="market-search">Search coins</Label>
          <div className="relative">
            <Search aria-hidden className="pointer-events-none absolute top-2.5 left-2.5 size-4 text-muted-foreground" />
            <Input
              id="market-search"
              type="search"
              placeholder="Name or symbol"
              autoComplete="off"
              value={query}
              onChange={(event) => {
                setQuery(event.target.value);
                setPage(1);
              }}
              className="pl-8"
            />
          </div>
        </div>
        {asOf ? (
          <p className="text-sm text-muted-foreground">
            Prices as of <Time iso={asOf} />
          </p>
        ) : null}
      </div>

      {error ? (
        <ErrorState error={error} title="Could not load the markets" retry={reload} />
      ) : loading || !data ? (
        <LoadingRows rows={8} label="Loading the markets" />
      ) : data.length === 0 ? (
        <EmptyState title="No coins are tracked yet">
          An admin adds coins by syncing the catalogue from CoinGecko.
        </EmptyState>
      ) : rows.length === 0 ? (
        <EmptyState title={`No coin matches “${query.trim()}”`}>Search by name or symbol, e.g. “btc”.</EmptyState>
      ) : (
        <div className="rounded-lg border bg-card">
          <Table aria-label="Tracked coins">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <SortHeader label="#" column="rank" {...header} />
                <SortHeader label="Coin" column="name" {...header} />
                <SortHeader label="Price" column="price" numeric {...header} />
                <SortHeader label="24 h" column="change24h" numeric {...header} />
                <SortHeader label="7 d" column="change7d" numeric {...header} />
                <SortHeader label="Market cap" column="marketCap" numeric {...header} />
                <TableHead className="text-right">Last 7 days</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {shown.map((row) => (
                <TableRow key={row.id} data-coin={row.id}>
                  <TableCell className="text-muted-foreground tabular-nums">
                    {row.market_cap_rank === null ? "—" : formatNumber(row.market_cap_rank)}
                  </TableCell>
                  <TableCell>
                    <Link
                      href={`/coin?id=${encodeURIComponent(row.id)}`}
                      className="rounded-sm font-medium hover:underline focus-visible:outline-2 focus-visible:outline-ring"
                    >
                      {row.name}
                      {row.symbol ? (
                        <span className="ml-2 text-xs font-normal text-muted-foreground uppercase">{row.symbol}</span>
                      ) : null}
                    </Link>
                  </TableCell>
                  <TableCell className="text-right tabular-nums" data-testid="price">
                    {formatPrice(row.current_price)}
                  </TableCell>
                  <TableCell className="text-right">
                    <Change value={change24h(row)} />
                  </TableCell>
                  <TableCell className="text-right">
                    <Change value={row.price_change_percentage_7d_in_currency} />
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{formatCompactUsd(row.market_cap)}</TableCell>
                  <TableCell className="py-1">
                    <Sparkline prices={row.sparkline_in_7d?.price ?? []} className="ml-auto" />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          <div className="border-t px-3 pb-3">
            <Pager info={info} onPage={setPage} label="Markets pages" noun="coins" />
          </div>
        </div>
      )}
    </div>
  );
}
