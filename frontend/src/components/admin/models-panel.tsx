"use client";
// The model registry: versions by coin, horizon, kind and status, each with its card,
// and Promote / Archive behind a confirmation that shows the API's refusal.
import { useState, type FormEvent } from "react";
import { Pager } from "@/components/pager";
import { EmptyState, ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
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
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import {
  ConfirmAction,
  Field,
  Notice,
  PAGE_SIZE,
  StateBadge,
  Toolbar,
  type ConfirmRequest,
} from "./common";
import { ModelCardDialog } from "./model-card";

type ModelStatus = Schemas["ModelStatus"];
type Model = Schemas["ModelSummary"];

const MODEL_STATUSES: ModelStatus[] = ["production", "candidate", "archived", "demoted"];

interface Filters {
  coin: string;
  horizon: string;
  status: ModelStatus | "";
  kind: string;
}

const NO_FILTERS: Filters = { coin: "", horizon: "", status: "", kind: "" };

export function ModelsPanel() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [page, setPage] = useState(1);
  const [card, setCard] = useState<number | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const horizon = Number.parseInt(filters.horizon, 10);
  const models = useApi(`models:${JSON.stringify(filters)}:${page}`, (signal) =>
    unwrap(
      api.GET("/api/v1/models", {
        params: {
          query: {
            coin: filters.coin.trim() || undefined,
            horizon: Number.isFinite(horizon) ? horizon : undefined,
            status: filters.status || undefined,
            kind: filters.kind.trim() || undefined,
            limit: PAGE_SIZE,
            offset: pageOffset(page, PAGE_SIZE),
          },
        },
        signal,
      }),
    ),
  );

  function apply(event: FormEvent) {
    event.preventDefault();
    setFilters(draft);
    setPage(1);
  }

  function clear() {
    setDraft(NO_FILTERS);
    setFilters(NO_FILTERS);
    setPage(1);
  }

  function label(model: Model) {
    return `${model.kind} v${model.version} (#${model.id}) for ${model.coin}, ${model.horizon}-day horizon`;
  }

  function askPromote(model: Model) {
    setConfirm({
      title: `Promote model #${model.id}?`,
      description: (
        <p>
          {label(model)} goes into production. The version now serving {model.coin} at this horizon is
          archived, and a forecast is issued from the newest closed bar.
        </p>
      ),
      confirmLabel: "Promote",
      action: async () => {
        const result = await unwrap(
          api.POST("/api/v1/models/{model_id}/promote", { params: { path: { model_id: model.id } } }),
        );
        models.reload();
        return `Model #${result.id} is now ${result.status}.`;
      },
    });
  }

  function askArchive(model: Model) {
    setConfirm({
      title: `Archive model #${model.id}?`,
      description: (
        <p>
          {label(model)} is retired.
          {model.status === "production"
            ? " It is in production: this horizon is served by the naive forecast until another version is promoted."
            : null}
        </p>
      ),
      confirmLabel: "Archive",
      destructive: true,
      action: async () => {
        const result = await unwrap(
          api.POST("/api/v1/models/{model_id}/archive", { params: { path: { model_id: model.id } } }),
        );
        models.reload();
        return `Model #${result.id} is now ${result.status}.`;
      },
    });
  }

  const filtered = Object.values(filters).some((value) => value !== "");

  return (
    <div className="flex flex-col gap-6">
      {notice ? <Notice onDismiss={() => setNotice(null)}>{notice}</Notice> : null}
      <Card>
        <CardHeader>
          <CardTitle>Model registry</CardTitle>
          <CardDescription>Registered versions, newest first.</CardDescription>
        </CardHeader>
        <CardContent>
          <form onSubmit={apply} aria-label="Filter models">
            <Toolbar>
              <Field id="models-coin" label="Coin">
                <Input
                  id="models-coin"
                  value={draft.coin}
                  onChange={(event) => setDraft({ ...draft, coin: event.target.value })}
                  placeholder="bitcoin or btc"
                  autoComplete="off"
                  spellCheck={false}
                  className="w-40"
                />
              </Field>
              <Field id="models-horizon" label="Horizon (days)">
                <Input
                  id="models-horizon"
                  type="number"
                  min={1}
                  max={30}
                  value={draft.horizon}
                  onChange={(event) => setDraft({ ...draft, horizon: event.target.value })}
                  className="w-28"
                />
              </Field>
              <Field id="models-status" label="Status">
                <NativeSelect
                  id="models-status"
                  value={draft.status}
                  onChange={(event) => setDraft({ ...draft, status: event.target.value as ModelStatus | "" })}
                >
                  <option value="">Any status</option>
                  {MODEL_STATUSES.map((status) => (
                    <option key={status} value={status}>
                      {status}
                    </option>
                  ))}
                </NativeSelect>
              </Field>
              <Field id="models-kind" label="Kind">
                <Input
                  id="models-kind"
                  value={draft.kind}
                  onChange={(event) => setDraft({ ...draft, kind: event.target.value })}
                  placeholder="naive"
                  autoComplete="off"
                  spellCheck={false}
                  className="w-32"
                />
              </Field>
              <div className="flex gap-2">
                <Button type="submit">Filter</Button>
                <Button type="button" variant="outline" onClick={clear}>
                  Clear
                </Button>
              </div>
            </Toolbar>
          </form>
          {models.loading ? <LoadingRows rows={6} label="Loading models" /> : null}
          {models.error ? <ErrorState error={models.error} retry={models.reload} /> : null}
          {models.data && models.data.items.length === 0 ? (
            <EmptyState title="No models">
              {filtered
                ? "No version matches these filters."
                : "No version is registered yet: training runs after the first start, or run train_coin_models."}
            </EmptyState>
          ) : null}
          {models.data && models.data.items.length > 0 ? (
            <>
              <Table>
                <TableCaption className="sr-only">Models</TableCaption>
                <TableHeader>
                  <TableRow>
                    <TableHead scope="col">ID</TableHead>
                    <TableHead scope="col">Coin</TableHead>
                    <TableHead scope="col">Kind</TableHead>
                    <TableHead scope="col">Horizon</TableHead>
                    <TableHead scope="col">Status</TableHead>
                    <TableHead scope="col">Trained on</TableHead>
                    <TableHead scope="col">Registered</TableHead>
                    <TableHead scope="col">Promoted</TableHead>
                    <TableHead scope="col">
                      <span className="sr-only">Actions</span>
                    </TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {models.data.items.map((model) => (
                    <TableRow key={model.id}>
                      <TableCell>#{model.id}</TableCell>
                      <TableCell>{model.coin}</TableCell>
                      <TableCell>
                        {model.kind} <span className="text-muted-foreground">v{model.version}</span>
                      </TableCell>
                      <TableCell>
                        {model.horizon} d <span className="text-muted-foreground">({model.interval})</span>
                      </TableCell>
                      <TableCell>
                        <StateBadge state={model.status} />
                      </TableCell>
                      <TableCell>
                        <Time iso={model.train_start_at} dateOnly /> – <Time iso={model.train_end_at} dateOnly />
                      </TableCell>
                      <TableCell>
                        <Time iso={model.created_at} />
                      </TableCell>
                      <TableCell>
                        <Time iso={model.promoted_at} />
                      </TableCell>
                      <TableCell>
                        <div className="flex justify-end gap-1">
                          <Button
                            variant="outline"
                            size="sm"
                            aria-label={`Model card of #${model.id}`}
                            onClick={() => setCard(model.id)}
                          >
                            Card
                          </Button>
                          <Button
                            size="sm"
                            aria-label={`Promote model #${model.id}`}
                            disabled={model.status === "production"}
                            onClick={() => askPromote(model)}
                          >
                            Promote
                          </Button>
                          <Button
                            variant="outline"
                            size="sm"
                            aria-label={`Archive model #${model.id}`}
                            disabled={model.status === "archived"}
                            onClick={() => askArchive(model)}
                          >
                            Archive
                          </Button>
                        </div>
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
              <Pager
                info={pageInfo(page, PAGE_SIZE, models.data.total)}
                onPage={setPage}
                label="Models pages"
                noun="models"
              />
            </>
          ) : null}
        </CardContent>
      </Card>
      <ModelCardDialog modelId={card} onClose={() => setCard(null)} />
      <ConfirmAction request={confirm} onClose={() => setConfirm(null)} onDone={setNotice} />
    </div>
  );
}
