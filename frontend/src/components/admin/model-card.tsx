"use client";
// A model version's card in a dialog: how it was trained, its figures and its history.
import { ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Badge } from "@/components/ui/badge";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "@/components/ui/dialog";
import { summarizeJson } from "@/lib/admin";
import { api, unwrap } from "@/lib/api/client";
import { useApi } from "@/lib/use-api";
import { Facts, JsonSection, StateBadge } from "./common";

export function ModelCardDialog({ modelId, onClose }: { modelId: number | null; onClose: () => void }) {
  return (
    <Dialog open={modelId !== null} onOpenChange={(open) => !open && onClose()}>
      {modelId !== null ? <ModelCardBody modelId={modelId} /> : null}
    </Dialog>
  );
}

function ModelCardBody({ modelId }: { modelId: number }) {
  const { data, error, loading, reload } = useApi(`model-card:${modelId}`, (signal) =>
    unwrap(api.GET("/api/v1/models/{model_id}", { params: { path: { model_id: modelId } }, signal })),
  );
  return (
    <DialogContent className="max-w-3xl">
      <DialogTitle>Model #{modelId}</DialogTitle>
      <DialogDescription>
        {data
          ? `${data.kind} v${data.version} for ${data.coin}, ${data.horizon}-day horizon (${data.interval} bars)`
          : "The version's card."}
      </DialogDescription>
      {loading ? <LoadingRows rows={5} label="Loading the model card" /> : null}
      {error ? <ErrorState error={error} retry={reload} /> : null}
      {data ? (
        <div className="flex flex-col gap-4">
          <Facts
            items={[
              ["Status", <StateBadge key="status" state={data.status} />],
              ["Coin", data.coin],
              ["Kind", `${data.kind} v${data.version}`],
              ["Horizon", `${data.horizon} d (${data.interval})`],
              [
                "Trained on",
                <span key="window">
                  <Time iso={data.train_start_at} dateOnly /> – <Time iso={data.train_end_at} dateOnly />
                </span>,
              ],
              ["Registered", <Time key="created" iso={data.created_at} />],
              ["Promoted", <Time key="promoted" iso={data.promoted_at} />],
              ["Live record", data.live ? summarizeJson(data.live, 120) : "None yet"],
            ]}
          />
          {data.features.length > 0 ? (
            <div>
              <h3 className="mb-1.5 text-sm font-medium">Features</h3>
              <ul className="flex flex-wrap gap-1.5" aria-label="Features">
                {data.features.map((feature) => (
                  <li key={feature}>
                    <Badge variant="secondary" className="font-mono">
                      {feature}
                    </Badge>
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          <div>
            <h3 className="mb-1.5 text-sm font-medium">Status history</h3>
            {data.history.length === 0 ? (
              <p className="text-sm text-muted-foreground">No status change yet.</p>
            ) : (
              <ol className="flex flex-col gap-2 text-sm">
                {data.history.map((event) => (
                  <li key={event.id} className="rounded-md border p-2">
                    <div className="flex flex-wrap items-center gap-2">
                      <StateBadge state={event.kind} />
                      <span className="text-muted-foreground">by {event.source}</span>
                      <span className="ml-auto text-xs text-muted-foreground">
                        <Time iso={event.occurred_at} />
                      </span>
                    </div>
                    <p className="mt-1">{event.reason}</p>
                    {Object.keys(event.figures).length > 0 ? (
                      <p className="mt-1 font-mono text-xs text-muted-foreground">
                        {summarizeJson(event.figures, 200)}
                      </p>
                    ) : null}
                  </li>
                ))}
              </ol>
            )}
          </div>
          <JsonSection title="Backtest" value={data.backtest} open />
          <JsonSection title="Parameters" value={data.params} />
          <JsonSection title="Data quality" value={data.data_quality} />
          <JsonSection title="Calibration" value={data.calibration} />
          {data.live ? <JsonSection title="Live record" value={data.live} /> : null}
        </div>
      ) : null}
    </DialogContent>
  );
}
