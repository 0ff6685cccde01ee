"use client";
// Background tasks: every kind with Run now, the runs (filter, detail, revoke), and the
// workers and queues. Polls while any run is queued or running.
import { Play, RefreshCw, SlidersHorizontal } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Pager } from "@/components/pager";
import { EmptyState, ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "@/components/ui/dialog";
import { NativeSelect, Textarea } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import {
  Table,
  TableBody,
  TableCaption,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from "@/components/ui/table";
import {
  formatDuration,
  formatPeriod,
  newestAttempts,
  parseArgs,
  rowPending,
  summarizeJson,
} from "@/lib/admin";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { formatNumber } from "@/lib/format";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import {
  ConfirmAction,
  Field,
  Notice,
  PAGE_SIZE,
  POLL_MS,
  Refusal,
  StateBadge,
  Toolbar,
  shortId,
  usePolling,
  type ConfirmRequest,
} from "./common";
import { RunDetailDialog, RunProgress } from "./task-run";

type TaskKind = Schemas["TaskKindRead"];
type TaskState = Schemas["TaskState"];
type Submitted = Schemas["TaskSubmitted"];

const RETRY_POLL_MS = 15_000;

const TASK_STATES: TaskState[] = [
  "queued",
  "running",
  "retrying",
  "succeeded",
  "failed",
  "skipped",
  "revoked",
];

async function submit(name: string, args: Record<string, unknown>): Promise<Submitted> {
  return unwrap(api.POST("/api/v1/tasks/{name}/run", { params: { path: { name } }, body: { args } }));
}

export function TasksPanel() {
  const kinds = useApi("task-kinds", (signal) => unwrap(api.GET("/api/v1/tasks", { signal })));
  const [task, setTask] = useState("");
  const [state, setState] = useState<TaskState | "">("");
  const [page, setPage] = useState(1);
  const runs = useApi(`task-runs:${task}:${state}:${page}`, (signal) =>
    unwrap(
      api.GET("/api/v1/tasks/runs", {
        params: {
          query: {
            task: task || undefined,
            state: state || undefined,
            limit: PAGE_SIZE,
            offset: pageOffset(page, PAGE_SIZE),
          },
        },
        signal,
      }),
    ),
  );

  const [submitting, setSubmitting] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState<Submitted | null>(null);
  const [submitError, setSubmitError] = useState<{ name: string; error: unknown } | null>(null);
  const [argsFor, setArgsFor] = useState<TaskKind | null>(null);
  const [detail, setDetail] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const rows = runs.data?.items ?? [];
  const newest = newestAttempts(rows);
  const states = [
    ...(kinds.data?.items.map((kind) => kind.last_run?.state) ?? []),
    ...rows.filter((run) => rowPending(run, newest)).map((run) => run.status),
  ];
  // Quick while something is queued or running; slower while only a retry waits (backoff).
  const busy = states.some((value) => value === "queued" || value === "running");
  const waiting = states.some((value) => value === "retrying");
  const { reload: reloadKinds } = kinds;
  const { reload: reloadRuns } = runs;
  usePolling(
    busy || waiting,
    () => {
      reloadKinds();
      reloadRuns();
    },
    busy ? POLL_MS : RETRY_POLL_MS,
  );

  function refresh() {
    reloadKinds();
    reloadRuns();
  }

  async function runNow(name: string, args: Record<string, unknown> = {}) {
    setSubmitting(name);
    setSubmitError(null);
    setNotice(null);
    try {
      setSubmitted(await submit(name, args));
      refresh();
    } catch (error) {
      setSubmitted(null);
      setSubmitError({ name, error });
    } finally {
      setSubmitting(null);
    }
  }

  function askRevoke(taskId: string, name: string) {
    setConfirm({
      title: `Revoke run ${shortId(taskId)}?`,
      description: (
        <p>
          This cancels the <strong>{name}</strong> run if it has not started yet. A run that is
          already running goes on.
        </p>
      ),
      confirmLabel: "Revoke",
      destructive: true,
      action: async () => {
        const result = await unwrap(
          api.POST("/api/v1/tasks/runs/{task_id}/revoke", { params: { path: { task_id: taskId } } }),
        );
        refresh();
        return result.revoked
          ? `Run ${shortId(taskId)} was revoked.`
          : `Run ${shortId(taskId)} was not revoked: it is ${result.state.replaceAll("_", " ")}.`;
      },
    });
  }

  const names = kinds.data?.items.map((kind) => kind.name) ?? [];

  return (
    <div className="flex flex-col gap-6">
      {submitted ? (
        <Notice onDismiss={() => setSubmitted(null)}>
          <RunProgress key={submitted.task_id} taskId={submitted.task_id} task={submitted.task} />{" "}
          <Button variant="link" className="h-auto p-0" onClick={() => setDetail(submitted.task_id)}>
            Details
          </Button>
        </Notice>
      ) : null}
      {notice ? <Notice onDismiss={() => setNotice(null)}>{notice}</Notice> : null}
      {submitError ? (
        <Refusal error={submitError.error} title={`Could not run ${submitError.name}`} />
      ) : null}

      <Card>
        <CardHeader className="flex-row flex-wrap items-start justify-between gap-2">
          <div className="flex flex-col gap-1">
            <CardTitle>Task kinds</CardTitle>
            <CardDescription>
              {kinds.data ? `Runner: ${kinds.data.mode}. ` : null}Scheduled and on-demand work.
            </CardDescription>
          </div>
          <Button variant="outline" size="sm" onClick={refresh}>
            <RefreshCw aria-hidden /> Refresh
          </Button>
        </CardHeader>
        <CardContent>
          {kinds.loading ? <LoadingRows rows={6} label="Loading task kinds" /> : null}
          {kinds.error ? <ErrorState error={kinds.error} retry={kinds.reload} /> : null}
          {kinds.data ? (
            <Table>
              <TableHeader>
                <TableRow>
                  <TableHead scope="col">Task</TableHead>
                  <TableHead scope="col">
                    <span className="sr-only">Actions</span>
                  </TableHead>
                  <TableHead scope="col">Period</TableHead>
                  <TableHead scope="col">Last run</TableHead>
                  <TableHead scope="col">Next run</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {kinds.data.items.map((kind) => (
                  <TableRow key={kind.name}>
                    <TableCell className="min-w-52 whitespace-normal">
                      <div className="font-mono text-xs font-medium">{kind.name}</div>
                      <div className="text-xs text-muted-foreground">{kind.description}</div>
                    </TableCell>
                    <TableCell>
                      <div className="flex gap-1">
                        <Button
                          size="sm"
                          aria-label={`Run ${kind.name} now`}
                          disabled={submitting === kind.name}
                          onClick={() => void runNow(kind.name)}
                        >
                          <Play aria-hidden /> {submitting === kind.name ? "Run…" : "Run"}
                        </Button>
                        <Button
                          size="icon"
                          variant="outline"
                          className="size-8"
                          aria-label={`Run ${kind.name} with arguments`}
                          title="Run with arguments"
                          onClick={() => setArgsFor(kind)}
                        >
                          <SlidersHorizontal aria-hidden />
                        </Button>
                      </div>
                    </TableCell>
                    <TableCell>{formatPeriod(kind.every_seconds)}</TableCell>
                    <TableCell>
                      {kind.last_run ? (
                        <button
                          type="button"
                          className="flex flex-col items-start gap-0.5 rounded-sm text-left hover:underline"
                          onClick={() => kind.last_run && setDetail(kind.last_run.task_id)}
                        >
                          <span className="sr-only">Details of the last run of {kind.name}:</span>
                          <StateBadge state={kind.last_run.state} />
                          <span className="text-xs text-muted-foreground">
                            <Time iso={kind.last_run.finished_at ?? kind.last_run.created_at} />
                          </span>
                        </button>
                      ) : (
                        <span className="text-muted-foreground">Never</span>
                      )}
                    </TableCell>
                    <TableCell>
                      {kind.next_run_at ? <Time iso={kind.next_run_at} /> : <span className="text-muted-foreground">—</span>}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          ) : null}
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Runs</CardTitle>
          <CardDescription>
            Newest first; each attempt is a row.
            {busy ? " Refreshing every few seconds while a run is queued or running." : null}
          </CardDescription>
        </CardHeader>
        <CardContent>
          <Toolbar>
            <Field id="runs-task" label="Task">
              <NativeSelect
                id="runs-task"
                value={task}
                onChange={(event) => {
                  setTask(event.target.value);
                  setPage(1);
                }}
              >
                <option value="">All tasks</option>
                {names.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </NativeSelect>
            </Field>
            <Field id="runs-state" label="State">
              <NativeSelect
                id="runs-state"
                value={state}
                onChange={(event) => {
                  setState(event.target.value as TaskState | "");
                  setPage(1);
                }}
              >
                <option value="">All states</option>
                {TASK_STATES.map((value) => (
                  <option key={value} value={value}>
                    {value}
                  </option>
                ))}
              </NativeSelect>
            </Field>
          </Toolbar>
          {runs.loading ? <LoadingRows rows={5} label="Loading task runs" /> : null}
          {runs.error ? <ErrorState error={runs.error} retry={runs.reload} /> : null}
          {runs.data && runs.data.items.length === 0 ? (
            <EmptyState title="No runs">
              {task || state ? "No run matches these filters." : "No task has run yet."}
            </EmptyState>
          ) : null}
          {runs.data && runs.data.items.length > 0 ? (
            <>
              <Table>
                <TableCaption className="sr-only">Task runs</TableCaption>
                <TableHeader>
                  <TableRow>
                    <TableHead scope="col">Task</TableHead>
                    <TableHead scope="col">State</TableHead>
                    <TableHead scope="col">Attempt</TableHead>
                    <TableHead scope="col">Queued</TableHead>
                    <TableHead scope="col">Duration</TableHead>
                    <TableHead scope="col">Worker</TableHead>
                    <TableHead scope="col">Outcome</TableHead>
                    <TableHead scope="col">
                      <span className="sr-only">Actions</span>
                    </TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {runs.data.items.map((run) => (
                    <TableRow key={`${run.task_id}:${run.attempt}`}>
                      <TableCell>
                        <div className="font-mono text-xs">{run.task}</div>
                        <div className="font-mono text-xs text-muted-foreground">{shortId(run.task_id)}</div>
                      </TableCell>
                      <TableCell>
                        <StateBadge state={run.status} />
                      </TableCell>
                      <TableCell>{formatNumber(run.attempt)}</TableCell>
                      <TableCell>
                        <Time iso={run.created_at} />
                      </TableCell>
                      <TableCell>{formatDuration(run.duration_seconds)}</TableCell>
                      <TableCell className="max-w-40 truncate" title={run.worker ?? undefined}>
                        {run.worker ?? "—"}
                      </TableCell>
                      <TableCell
                        className="max-w-72 truncate"
                        title={run.error ?? summarizeJson(run.result, 500)}
                      >
                        {run.error ? (
                          <span className="text-negative">{run.error}</span>
                        ) : (
                          <span className="text-muted-foreground">{summarizeJson(run.result, 60)}</span>
                        )}
                      </TableCell>
                      <TableCell>
                        <div className="flex justify-end gap-1">
                          <Button
                            variant="outline"
                            size="sm"
                            aria-label={`Details of run ${shortId(run.task_id)}`}
                            onClick={() => setDetail(run.task_id)}
                          >
                            Details
                          </Button>
                          {rowPending(run, newest) ? (
                            <Button
                              variant="destructive"
                              size="sm"
                              aria-label={`Revoke run ${shortId(run.task_id)}`}
                              onClick={() => askRevoke(run.task_id, run.task)}
                            >
                              Revoke
                            </Button>
                          ) : null}
                        </div>
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
              <Pager
                info={pageInfo(page, PAGE_SIZE, runs.data.total)}
                onPage={setPage}
                label="Task runs pages"
                noun="task runs"
              />
            </>
          ) : null}
        </CardContent>
      </Card>

      <div className="grid gap-6 md:grid-cols-2 [&>*]:min-w-0">
        <WorkersCard live={busy} />
        <QueuesCard live={busy} />
      </div>

      <RunDetailDialog taskId={detail} onClose={() => setDetail(null)} />
      <ConfirmAction request={confirm} onClose={() => setConfirm(null)} onDone={setNotice} />
      <ArgumentsDialog
        kind={argsFor}
        onClose={() => setArgsFor(null)}
        onSubmitted={(answer) => {
          setSubmitError(null);
          setSubmitted(answer);
          refresh();
        }}
      />
    </div>
  );
}

/** `live`: refresh every few seconds (while runs are queued or running). */
function WorkersCard({ live }: { live: boolean }) {
  const workers = useApi("task-workers", (signal) => unwrap(api.GET("/api/v1/tasks/workers", { signal })));
  usePolling(live, workers.reload);
  return (
    <Card>
      <CardHeader className="flex-row items-start justify-between gap-2">
        <div className="flex flex-col gap-1">
          <CardTitle>Workers</CardTitle>
          <CardDescription>Those that answered just now.</CardDescription>
        </div>
        <Button variant="ghost" size="icon" aria-label="Refresh workers" onClick={workers.reload}>
          <RefreshCw aria-hidden />
        </Button>
      </CardHeader>
      <CardContent>
        {workers.loading ? <LoadingRows rows={2} label="Loading workers" /> : null}
        {workers.error ? <ErrorState error={workers.error} retry={workers.reload} /> : null}
        {workers.data && workers.data.workers.length === 0 ? (
          <EmptyState title="No worker answered">Tasks stay queued until one starts.</EmptyState>
        ) : null}
        {workers.data && workers.data.workers.length > 0 ? (
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead scope="col">Worker</TableHead>
                <TableHead scope="col">Alive</TableHead>
                <TableHead scope="col" className="text-right">Active</TableHead>
                <TableHead scope="col" className="text-right">Reserved</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {workers.data.workers.map((worker) => (
                <TableRow key={worker.name}>
                  <TableCell className="font-mono text-xs">{worker.name}</TableCell>
                  <TableCell>
                    <Badge variant={worker.alive ? "positive" : "negative"}>{worker.alive ? "yes" : "no"}</Badge>
                  </TableCell>
                  <TableCell className="text-right">{formatNumber(worker.active)}</TableCell>
                  <TableCell className="text-right">{formatNumber(worker.reserved)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        ) : null}
      </CardContent>
    </Card>
  );
}

function QueuesCard({ live }: { live: boolean }) {
  const queues = useApi("task-queues", (signal) => unwrap(api.GET("/api/v1/tasks/queues", { signal })));
  usePolling(live, queues.reload);
  const entries = queues.data ? Object.entries(queues.data.queues) : [];
  return (
    <Card>
      <CardHeader className="flex-row items-start justify-between gap-2">
        <div className="flex flex-col gap-1">
          <CardTitle>Queues</CardTitle>
          <CardDescription>Tasks waiting in each queue.</CardDescription>
        </div>
        <Button variant="ghost" size="icon" aria-label="Refresh queues" onClick={queues.reload}>
          <RefreshCw aria-hidden />
        </Button>
      </CardHeader>
      <CardContent>
        {queues.loading ? <LoadingRows rows={2} label="Loading queues" /> : null}
        {queues.error ? <ErrorState error={queues.error} retry={queues.reload} /> : null}
        {queues.data && entries.length === 0 ? <EmptyState title="No queues" /> : null}
        {entries.length > 0 ? (
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead scope="col">Queue</TableHead>
                <TableHead scope="col" className="text-right">Waiting</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {entries.map(([name, waiting]) => (
                <TableRow key={name}>
                  <TableCell className="font-mono text-xs">{name}</TableCell>
                  <TableCell className="text-right">{formatNumber(waiting)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        ) : null}
      </CardContent>
    </Card>
  );
}

function ArgumentsDialog({
  kind,
  onClose,
  onSubmitted,
}: {
  kind: TaskKind | null;
  onClose: () => void;
  onSubmitted: (answer: Submitted) => void;
}) {
  return (
    <Dialog open={kind !== null} onOpenChange={(open) => !open && onClose()}>
      {kind ? <ArgumentsForm kind={kind} onClose={onClose} onSubmitted={onSubmitted} /> : null}
    </Dialog>
  );
}

function ArgumentsForm({
  kind,
  onClose,
  onSubmitted,
}: {
  kind: TaskKind;
  onClose: () => void;
  onSubmitted: (answer: Submitted) => void;
}) {
  const [text, setText] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function send(event: FormEvent) {
    event.preventDefault();
    const parsed = parseArgs(text);
    if (!parsed.ok) {
      setInvalid(parsed.error);
      return;
    }
    setInvalid(null);
    setError(null);
    setBusy(true);
    try {
      onSubmitted(await submit(kind.name, parsed.value));
      onClose();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <DialogContent>
      <DialogTitle>Run {kind.name}</DialogTitle>
      <DialogDescription>{kind.description}. Keyword arguments as a JSON object.</DialogDescription>
      <form onSubmit={(event) => void send(event)} className="flex flex-col gap-3" noValidate>
        <div className="flex flex-col gap-1.5">
          <Label htmlFor="task-args">Arguments (JSON)</Label>
          <Textarea
            id="task-args"
            value={text}
            onChange={(event) => {
              setText(event.target.value);
              setInvalid(null);
            }}
            placeholder='{"coin_id": "bitcoin"}'
            className="font-mono"
            rows={4}
            aria-invalid={invalid !== null}
            aria-describedby={invalid ? "task-args-error" : undefined}
          />
          {invalid ? (
            <p id="task-args-error" className="text-sm text-destructive">
              {invalid}
            </p>
          ) : null}
        </div>
        {error ? <Refusal error={error} /> : null}
        <div className="flex justify-end gap-2">
          <Button type="button" variant="outline" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" disabled={busy}>
            {busy ? "Queuing…" : "Run"}
          </Button>
        </div>
      </form>
    </DialogContent>
  );
}
