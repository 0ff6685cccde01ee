"use client";
// Market-data sync: the shared rate limiter and circuit breaker now, the sync triggers
// (prices, history, discover) with the API's answer, and the runs.
import { RefreshCw } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Pager } from "@/components/pager";
import { EmptyState, ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import {
  Table,
  TableBody,
  TableCaption,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from "@/components/ui/table";
import { formatDuration, secondsBetween, tokenShare } from "@/lib/admin";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { formatNumber } from "@/lib/format";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import { Facts, Field, Notice, PAGE_SIZE, Refusal, StateBadge, Toolbar, usePolling } from "./common";
import { RunProgress } from "./task-run";

type SyncKind = Schemas["SyncKind"];
type Interval = Schemas["Interval"];
type Answer = Schemas["TaskAccepted"] | Schemas["SyncRunRead"];

const SYNC_KINDS: SyncKind[] = ["prices", "history", "backfill", "discover"];
const INTERVALS: Interval[] = ["5m", "1h", "1d"];
const STATUS_POLL_MS = 10_000;

export function SyncPanel() {
  const status = useApi("sync-status", (signal) => unwrap(api.GET("/api/v1/sync/status", { signal })), STATUS_POLL_MS);
  const [kind, setKind] = useState<SyncKind | "">("");
  const [page, setPage] = useState(1);
  const runs = useApi(`sync-runs:${kind}:${page}`, (signal) =>
    unwrap(
      api.GET("/api/v1/sync/runs", {
        params: { query: { kind: kind || undefined, limit: PAGE_SIZE, offset: pageOffset(page, PAGE_SIZE) } },
        signal,
      }),
    ),
  );
  const busy = runs.data?.items.some((run) => run.status === "running") ?? false;
  const { reload: reloadRuns } = runs;
  const { reload: reloadStatus } = status;
  usePolling(busy, () => {
    reloadRuns();
    reloadStatus();
  });

  function refresh() {
    reloadRuns();
    reloadStatus();
  }

  return (
    <div className="flex flex-col gap-6">
      <div className="grid gap-6 md:grid-cols-2 [&>*]:min-w-0">
        <Card>
          <CardHeader>
            <CardTitle>Rate limiter</CardTitle>
            <CardDescription>CoinGecko calls left in the shared bucket.</CardDescription>
          </CardHeader>
          <CardContent>
            {status.loading ? <LoadingRows rows={3} label="Loading the rate limiter" /> : null}
            {status.error ? <ErrorState error={status.error} retry={status.reload} /> : null}
            {status.data ? <Limiter limiter={status.data.limiter} /> : null}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Circuit breaker</CardTitle>
            <CardDescription>Stops calling CoinGecko after repeated failures.</CardDescription>
          </CardHeader>
          <CardContent>
            {status.loading ? <LoadingRows rows={3} label="Loading the circuit breaker" /> : null}
            {status.error ? <ErrorState error={status.error} retry={status.reload} /> : null}
            {status.data ? <Breaker breaker={status.data.breaker} /> : null}
          </CardContent>
        </Card>
      </div>

      <SyncActions onQueued={refresh} />

      <Card>
        <CardHeader className="flex-row flex-wrap items-start justify-between gap-2">
          <div className="flex flex-col gap-1">
            <CardTitle>Sync runs</CardTitle>
            <CardDescription>
              Newest first.{busy ? " Refreshing every few seconds while a sync runs." : null}
            </CardDescription>
          </div>
          <Button variant="outline" size="sm" onClick={refresh}>
            <RefreshCw aria-hidden /> Refresh
          </Button>
        </CardHeader>
        <CardContent>
          <Toolbar>
            <Field id="sync-kind" label="Kind">
              <NativeSelect
                id="sync-kind"
                value={kind}
                onChange={(event) => {
                  setKind(event.target.value as SyncKind | "");
                  setPage(1);
                }}
              >
                <option value="">All kinds</option>
                {SYNC_KINDS.map((value) => (
                  <option key={value} value={value}>
                    {value}
                  </option>
                ))}
              </NativeSelect>
            </Field>
          </Toolbar>
          {runs.loading ? <LoadingRows rows={5} label="Loading sync runs" /> : null}
          {runs.error ? <ErrorState error={runs.error} retry={runs.reload} /> : null}
          {runs.data && runs.data.items.length === 0 ? (
            <EmptyState title="No sync runs">
              {kind ? "No run of this kind yet." : "Nothing has been synced yet."}
            </EmptyState>
          ) : null}
          {runs.data && runs.data.items.length > 0 ? (
            <>
              <Table>
                <TableCaption className="sr-only">Sync runs</TableCaption>
                <TableHeader>
                  <TableRow>
                    <TableHead scope="col">Kind</TableHead>
                    <TableHead scope="col">Coin</TableHead>
                    <TableHead scope="col">Status</TableHead>
                    <TableHead scope="col">Started</TableHead>
                    <TableHead scope="col">Duration</TableHead>
                    <TableHead scope="col" className="text-right">Calls</TableHead>
                    <TableHead scope="col" className="text-right">Rows</TableHead>
                    <TableHead scope="col">Error</TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {runs.data.items.map((run) => (
                    <TableRow key={run.id}>
                      <TableCell>{run.kind}</TableCell>
                      <TableCell>{run.coin ?? <span className="text-muted-foreground">all</span>}</TableCell>
                      <TableCell>
                        <StateBadge state={run.status} />
                      </TableCell>
                      <TableCell>
                        <Time iso={run.started_at} />
                      </TableCell>
                      <TableCell>
                        {run.finished_at
                          ? formatDuration(secondsBetween(run.started_at, run.finished_at))
                          : "running"}
                      </TableCell>
                      <TableCell className="text-right">{formatNumber(run.calls_made)}</TableCell>
                      <TableCell className="text-right">{formatNumber(run.rows_written)}</TableCell>
                      <TableCell className="max-w-80 truncate text-negative" title={run.error ?? undefined}>
                        {run.error ?? <span className="text-muted-foreground">—</span>}
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
              <Pager
                info={pageInfo(page, PAGE_SIZE, runs.data.total)}
                onPage={setPage}
                label="Sync runs pages"
                noun="sync runs"
              />
            </>
          ) : null}
        </CardContent>
      </Card>
    </div>
  );
}

function Limiter({ limiter }: { limiter: Schemas["LimiterSnapshot"] }) {
  const share = tokenShare(limiter.tokens_available, limiter.capacity);
  return (
    <div className="flex flex-col gap-4">
      <div>
        <div className="mb-1 flex items-baseline justify-between text-sm">
          <span id="limiter-tokens">Tokens</span>
          <span className="font-medium">
            {formatNumber(limiter.tokens_available, { maximumFractionDigits: 1 })} /{" "}
            {formatNumber(limiter.capacity, { maximumFractionDigits: 1 })}
          </span>
        </div>
        <div
          role="meter"
          aria-labelledby="limiter-tokens"
          aria-valuemin={0}
          aria-valuemax={limiter.capacity}
          aria-valuenow={Math.round(limiter.tokens_available * 10) / 10}
          className="h-2 overflow-hidden rounded-full bg-muted"
        >
          <div className="h-full bg-primary" style={{ width: `${share}%` }} />
        </div>
      </div>
      <Facts
        items={[
          ["Refill", `${formatNumber(limiter.refill_per_second, { maximumFractionDigits: 3 })} per second`],
          ["Limit", `${formatNumber(limiter.max_calls_per_minute)} calls per minute`],
          ["Backend", <Backend key="backend" {...limiter} />],
        ]}
      />
    </div>
  );
}

function Backend({
  backend,
  redis_configured,
  degraded,
}: {
  backend: string;
  redis_configured: boolean;
  degraded: boolean;
}) {
  return (
    <span className="inline-flex flex-wrap items-center gap-1.5">
      {backend}
      {degraded ? <Badge variant="warning">degraded</Badge> : null}
      {redis_configured && backend !== "redis" ? (
        <span className="text-muted-foreground">(Redis configured but not in use)</span>
      ) : null}
    </span>
  );
}

function Breaker({ breaker }: { breaker: Schemas["BreakerSnapshot"] }) {
  return (
    <Facts
      items={[
        ["State", <StateBadge key="state" state={breaker.state} />],
        ["Failures", `${formatNumber(breaker.failures)} of ${formatNumber(breaker.failure_threshold)} to open`],
        ["Opened", <Time key="opened" iso={breaker.opened_at} />],
        ["Next attempt", <Time key="next" iso={breaker.next_attempt_at} />],
        ["Reset after", formatDuration(breaker.reset_seconds)],
        ["Backend", <Backend key="backend" {...breaker} />],
      ]}
    />
  );
}

type Trigger = "prices" | "history" | "discover";

function SyncActions({ onQueued }: { onQueued: () => void }) {
  const [busy, setBusy] = useState<Trigger | null>(null);
  const [answer, setAnswer] = useState<{ trigger: Trigger; body: Answer } | null>(null);
  const [failure, setFailure] = useState<{ trigger: Trigger; error: unknown } | null>(null);
  const [coin, setCoin] = useState("");
  const [days, setDays] = useState("365");
  const [intervals, setIntervals] = useState<Interval[]>([...INTERVALS]);
  const [top, setTop] = useState("");

  async function trigger(which: Trigger, call: () => Promise<Answer>) {
    setBusy(which);
    setFailure(null);
    setAnswer(null);
    try {
      setAnswer({ trigger: which, body: await call() });
      onQueued();
    } catch (error) {
      setFailure({ trigger: which, error });
    } finally {
      setBusy(null);
    }
  }

  function history(event: FormEvent) {
    event.preventDefault();
    const dayCount = Number.parseInt(days, 10);
    void trigger("history", () =>
      unwrap(
        api.POST("/api/v1/sync/history", {
          body: {
            coin: coin.trim() || null,
            days: Number.isFinite(dayCount) ? dayCount : 365,
            intervals: intervals.length > 0 ? intervals : null,
          },
        }),
      ),
    );
  }

  function discover(event: FormEvent) {
    event.preventDefault();
    const count = Number.parseInt(top, 10);
    void trigger("discover", () =>
      unwrap(api.POST("/api/v1/sync/discover", { body: { top: Number.isFinite(count) ? count : null } })),
    );
  }

  return (
    <Card>
      <CardHeader>
        <CardTitle>Sync now</CardTitle>
        <CardDescription>
          Each queues a task; follow it here or in Tasks. Calls go through the limiter and breaker above.
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-5">
        {answer ? (
          <Notice onDismiss={() => setAnswer(null)}>
            <SyncAnswer body={answer.body} />
          </Notice>
        ) : null}
        {failure ? <Refusal error={failure.error} title={`Could not start the ${failure.trigger} sync`} /> : null}

        <div className="flex flex-wrap items-center gap-3">
          <Button
            disabled={busy !== null}
            onClick={() => void trigger("prices", () => unwrap(api.POST("/api/v1/sync/prices")))}
          >
            {busy === "prices" ? "Queuing…" : "Sync prices"}
          </Button>
          <span className="text-sm text-muted-foreground">The latest price of every active coin.</span>
        </div>

        <form onSubmit={history} className="flex flex-col gap-3 border-t pt-4" aria-labelledby="history-title">
          <h3 id="history-title" className="text-sm font-medium">
            History
          </h3>
          <Toolbar className="mb-0">
            <Field id="history-coin" label="Coin (blank: all active)">
              <Input
                id="history-coin"
                value={coin}
                onChange={(event) => setCoin(event.target.value)}
                placeholder="bitcoin"
                autoComplete="off"
                spellCheck={false}
              />
            </Field>
            <Field id="history-days" label="Days back">
              <Input
                id="history-days"
                type="number"
                min={1}
                max={3650}
                value={days}
                onChange={(event) => setDays(event.target.value)}
                className="w-28"
              />
            </Field>
            <fieldset className="flex flex-col gap-1.5">
              <legend className="mb-1.5 text-sm font-medium">Intervals</legend>
              <div className="flex h-9 items-center gap-3">
                {INTERVALS.map((interval) => (
                  <label key={interval} className="flex items-center gap-1.5 text-sm">
                    <input
                      type="checkbox"
                      className="size-4 accent-primary"
                      checked={intervals.includes(interval)}
                      onChange={(event) =>
                        setIntervals((current) =>
                          event.target.checked
                            ? INTERVALS.filter((item) => item === interval || current.includes(item))
                            : current.filter((item) => item !== interval),
                        )
                      }
                    />
                    {interval}
                  </label>
                ))}
              </div>
            </fieldset>
            <Button type="submit" disabled={busy !== null}>
              {busy === "history" ? "Queuing…" : "Sync history"}
            </Button>
          </Toolbar>
        </form>

        <form onSubmit={discover} className="flex flex-col gap-3 border-t pt-4" aria-labelledby="discover-title">
          <h3 id="discover-title" className="text-sm font-medium">
            Catalogue
          </h3>
          <Toolbar className="mb-0">
            <Field id="discover-top" label="Top coins (blank: configured)">
              <Input
                id="discover-top"
                type="number"
                min={1}
                max={5000}
                value={top}
                onChange={(event) => setTop(event.target.value)}
                className="w-36"
              />
            </Field>
            <Button type="submit" disabled={busy !== null}>
              {busy === "discover" ? "Queuing…" : "Discover coins"}
            </Button>
          </Toolbar>
        </form>
      </CardContent>
    </Card>
  );
}

function SyncAnswer({ body }: { body: Answer }) {
  if ("task_id" in body) return <RunProgress key={body.task_id} taskId={body.task_id} task={body.task} />;
  return (
    <span>
      Sync run {body.id} ({body.kind}) <StateBadge state={body.status} />: {formatNumber(body.rows_written)} rows
      written.
    </span>
  );
}
