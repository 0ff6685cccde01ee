"use client";
// One task run followed live: a compact line for a notice, and a dialog with its result
// or error as JSON. Both poll GET /tasks/runs/{task_id} until the run is final.
import { ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "@/components/ui/dialog";
import { formatDuration, isPending, summarizeJson } from "@/lib/admin";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { useApi } from "@/lib/use-api";
import { Facts, JsonSection, POLL_MS, StateBadge, shortId, usePolling } from "./common";

type TaskStatus = Schemas["TaskStatusRead"];

function useTaskStatus(taskId: string | null) {
  const status = useApi<TaskStatus>(taskId === null ? null : `task-run:${taskId}`, (signal) =>
    unwrap(
      api.GET("/api/v1/tasks/runs/{task_id}", {
        params: { path: { task_id: taskId ?? "" } },
        signal,
      }),
    ),
  );
  const state = status.data?.state;
  usePolling(isPending(state), status.reload, state === "retrying" ? 15_000 : POLL_MS);
  return status;
}

/** "health_check 1ce2506a: succeeded in 0.2 s — ok: true", kept current while it runs. */
export function RunProgress({ taskId, task }: { taskId: string; task: string }) {
  const { data, error } = useTaskStatus(taskId);
  return (
    <span className="inline-flex flex-wrap items-center gap-x-2 gap-y-1">
      <span>
        Queued <span className="font-medium">{task}</span> as run{" "}
        <code className="font-mono text-xs">{shortId(taskId)}</code>.
      </span>
      {data ? (
        <>
          <StateBadge state={data.state} />
          {data.duration_seconds !== null ? <span>{formatDuration(data.duration_seconds)}</span> : null}
          {data.error ? (
            <span className="text-negative">{data.error}</span>
          ) : data.result ? (
            <span className="text-muted-foreground">{summarizeJson(data.result, 100)}</span>
          ) : null}
        </>
      ) : error ? (
        <span className="text-negative">Could not follow it.</span>
      ) : null}
    </span>
  );
}

/** A run's detail: where it stands, its arguments, result and error. */
export function RunDetailDialog({ taskId, onClose }: { taskId: string | null; onClose: () => void }) {
  return (
    <Dialog open={taskId !== null} onOpenChange={(open) => !open && onClose()}>
      {taskId !== null ? <RunDetail taskId={taskId} /> : null}
    </Dialog>
  );
}

function RunDetail({ taskId }: { taskId: string }) {
  const { data, error, loading, reload } = useTaskStatus(taskId);
  return (
    <DialogContent className="max-w-2xl">
      <DialogTitle>Task run {shortId(taskId)}</DialogTitle>
      <DialogDescription>
        {data ? `${data.task}, attempt ${data.attempt}` : "Where this run stands."}
      </DialogDescription>
      {loading ? <LoadingRows rows={4} label="Loading the run" /> : null}
      {error ? <ErrorState error={error} retry={reload} /> : null}
      {data ? (
        <div className="flex flex-col gap-4">
          <Facts
            items={[
              ["Task", data.task],
              ["Run id", <code key="id" className="font-mono text-xs">{data.task_id}</code>],
              ["State", <StateBadge key="state" state={data.state} />],
              ["Attempt", data.attempt],
              ["Worker", data.worker ?? "—"],
              ["Queued", <Time key="created" iso={data.created_at} />],
              ["Started", <Time key="started" iso={data.started_at} />],
              ["Finished", <Time key="finished" iso={data.finished_at} />],
              ["Duration", formatDuration(data.duration_seconds)],
            ]}
          />
          {data.error ? (
            <div>
              <h3 className="mb-1 text-sm font-medium">Error</h3>
              <pre className="max-h-60 overflow-auto rounded-md border border-destructive/50 p-3 font-mono text-xs whitespace-pre-wrap text-destructive">
                {data.error}
              </pre>
            </div>
          ) : null}
          <JsonSection title="Result" value={data.result} open={data.result !== null} />
          <JsonSection title="Arguments" value={data.args} />
        </div>
      ) : null}
    </DialogContent>
  );
}
