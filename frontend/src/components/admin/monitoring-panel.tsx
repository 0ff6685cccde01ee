"use client";
// Live monitoring's decisions: each model event with the reason and figures behind it.
import { RefreshCw } from "lucide-react";
import { useState } from "react";
import { Pager } from "@/components/pager";
import { EmptyState, ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import {
  Table,
  TableBody,
  TableCaption,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from "@/components/ui/table";
import { prettyJson, summarizeJson } from "@/lib/admin";
import { api, unwrap } from "@/lib/api/client";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import { PAGE_SIZE, StateBadge } from "./common";
import { ModelCardDialog } from "./model-card";

export function MonitoringPanel() {
  const [page, setPage] = useState(1);
  const [card, setCard] = useState<number | null>(null);
  const events = useApi(`monitoring-events:${page}`, (signal) =>
    unwrap(
      api.GET("/api/v1/monitoring/events", {
        params: { query: { limit: PAGE_SIZE, offset: pageOffset(page, PAGE_SIZE) } },
        signal,
      }),
    ),
  );

  return (
    <Card>
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-2">
        <div className="flex flex-col gap-1">
          <CardTitle>Model events</CardTitle>
          <CardDescription>Promotions, archives and demotions, newest first, with the figures behind them.</CardDescription>
        </div>
        <Button variant="outline" size="sm" onClick={events.reload}>
          <RefreshCw aria-hidden /> Refresh
        </Button>
      </CardHeader>
      <CardContent>
        {events.loading ? <LoadingRows rows={5} label="Loading model events" /> : null}
        {events.error ? <ErrorState error={events.error} retry={events.reload} /> : null}
        {events.data && events.data.items.length === 0 ? (
          <EmptyState title="No model events">Live monitoring has not changed any model yet.</EmptyState>
        ) : null}
        {events.data && events.data.items.length > 0 ? (
          <>
            <Table>
              <TableCaption className="sr-only">Model events</TableCaption>
              <TableHeader>
                <TableRow>
                  <TableHead scope="col">When</TableHead>
                  <TableHead scope="col">Kind</TableHead>
                  <TableHead scope="col">Model</TableHead>
                  <TableHead scope="col">Source</TableHead>
                  <TableHead scope="col">Reason</TableHead>
                  <TableHead scope="col">Figures</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {events.data.items.map((event) => (
                  <TableRow key={event.id}>
                    <TableCell>
                      <Time iso={event.occurred_at} />
                    </TableCell>
                    <TableCell>
                      <StateBadge state={event.kind} />
                    </TableCell>
                    <TableCell>
                      <Button
                        variant="link"
                        className="h-auto p-0"
                        aria-label={`Model card of #${event.model_id}`}
                        onClick={() => setCard(event.model_id)}
                      >
                        #{event.model_id}
                      </Button>
                    </TableCell>
                    <TableCell>{event.source}</TableCell>
                    <TableCell className="min-w-56 whitespace-normal">{event.reason}</TableCell>
                    <TableCell
                      className="max-w-80 truncate font-mono text-xs"
                      title={prettyJson(event.figures)}
                    >
                      {summarizeJson(event.figures, 70)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
            <Pager
              info={pageInfo(page, PAGE_SIZE, events.data.total)}
              onPage={setPage}
              label="Model events pages"
              noun="model events"
            />
          </>
        ) : null}
      </CardContent>
      <ModelCardDialog modelId={card} onClose={() => setCard(null)} />
    </Card>
  );
}
