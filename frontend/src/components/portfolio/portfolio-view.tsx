"use client";
import { Pencil, Plus, Trash2, Wallet } from "lucide-react";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useState } from "react";
import { api, unwrap } from "@/lib/api/client";
import { newestFirstWindow } from "@/lib/transactions";
import { useApi } from "@/lib/use-api";
import { useReturnFocus } from "@/lib/use-return-focus";
import { cn } from "@/lib/utils";
import { ConfirmDialog } from "../confirm-dialog";
import { RequireSignIn } from "../require-sign-in";
import { EmptyState, ErrorState, LoadingRows, PageHeader } from "../states";
import { Button } from "../ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "../ui/card";
import { CsvCard } from "./csv-card";
import { DisposalsCard } from "./disposals-card";
import { HoldingsCard } from "./holdings-card";
import { ForecastBandCard, PerformanceCard } from "./performance-card";
import { PortfolioFormDialog, type Portfolio } from "./portfolio-form";
import { type Coin } from "./transaction-form";
import { PAGE_SIZE, TransactionsCard } from "./transactions-card";

function parseId(value: string | null): number | null {
  if (value === null || !/^\d{1,10}$/.test(value)) return null;
  const id = Number(value);
  return id >= 1 && id <= 2147483647 ? id : null;
}

async function trackedCoins(signal: AbortSignal): Promise<Coin[]> {
  const page = await unwrap(
    api.GET("/api/v1/coins", { params: { query: { is_active: true, limit: 500 } }, signal }),
  );
  return page.items;
}

/** Page `index` of a portfolio's transactions, newest first (the API lists oldest first). */
async function newestTransactions(portfolioId: number, index: number, signal: AbortSignal) {
  const path = { portfolio_id: portfolioId };
  const url = "/api/v1/portfolios/{portfolio_id}/transactions";
  const { total } = await unwrap(api.GET(url, { params: { path, query: { limit: 1 } }, signal }));
  const { offset, limit } = newestFirstWindow(total, index, PAGE_SIZE);
  if (limit === 0) return { items: [], total };
  const page = await unwrap(api.GET(url, { params: { path, query: { limit, offset } }, signal }));
  return { items: [...page.items].reverse(), total: page.total };
}

function PortfolioList({
  portfolios,
  selected,
  onNew,
}: {
  portfolios: Portfolio[];
  selected: number | null;
  onNew: (opener: EventTarget) => void;
}) {
  return (
    <Card className="self-start">
      <CardHeader>
        <CardTitle>Your portfolios</CardTitle>
      </CardHeader>
      <CardContent className="flex flex-col gap-3">
        <nav aria-label="Portfolios">
          <ul className="flex flex-col gap-1">
            {portfolios.map((portfolio) => (
              <li key={portfolio.id}>
                <Link
                  href={`/portfolio?id=${portfolio.id}`}
                  aria-current={portfolio.id === selected ? "page" : undefined}
                  className={cn(
                    "flex items-center gap-2 rounded-md px-2 py-1.5 text-sm hover:bg-accent",
                    portfolio.id === selected ? "bg-accent font-medium text-accent-foreground" : "text-muted-foreground",
                  )}
                >
                  <Wallet aria-hidden className="size-4 shrink-0" />
                  <span className="truncate">{portfolio.name}</span>
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <Button size="sm" variant="outline" onClick={(event) => onNew(event.currentTarget)}>
          <Plus aria-hidden />
          New portfolio
        </Button>
      </CardContent>
    </Card>
  );
}

function PortfolioDetail({
  portfolio,
  coins,
  onEdit,
  onDelete,
}: {
  portfolio: Portfolio;
  coins: Coin[];
  onEdit: (opener: EventTarget) => void;
  onDelete: (opener: EventTarget) => void;
}) {
  const id = portfolio.id;
  const [pageIndex, setPageIndex] = useState(0);
  // Grows with every change made here (and with the cost-basis method), so each figure the
  // server computes from the transactions is asked for again.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);
  const summary = useApi(`summary:${id}:${portfolio.cost_basis_method}:${version}`, (signal) =>
    unwrap(
      api.GET("/api/v1/portfolios/{portfolio_id}/summary", {
        params: { path: { portfolio_id: id } },
        signal,
      }),
    ),
  );
  const refresh = `${portfolio.cost_basis_method}:${version}`;
  const transactions = useApi(`transactions:${id}:${pageIndex}`, (signal) =>
    newestTransactions(id, pageIndex, signal),
  );

  return (
    <div className="flex min-w-0 flex-col gap-6">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h2 className="text-xl font-semibold break-words">{portfolio.name}</h2>
          {portfolio.description ? (
            <p className="mt-1 text-sm break-words text-muted-foreground">{portfolio.description}</p>
          ) : null}
        </div>
        <div className="flex flex-wrap gap-2">
          <Button variant="outline" size="sm" onClick={(event) => onEdit(event.currentTarget)}>
            <Pencil aria-hidden />
            Edit portfolio
          </Button>
          <Button variant="outline" size="sm" onClick={(event) => onDelete(event.currentTarget)}>
            <Trash2 aria-hidden />
            Delete portfolio
          </Button>
        </div>
      </div>
      <HoldingsCard
        summary={summary.data}
        error={summary.error}
        loading={summary.loading}
        retry={summary.reload}
      />
      <PerformanceCard portfolioId={id} refresh={refresh} />
      <ForecastBandCard portfolioId={id} refresh={refresh} />
      <TransactionsCard
        portfolioId={id}
        page={transactions.data}
        error={transactions.error}
        loading={transactions.loading}
        retry={transactions.reload}
        pageIndex={pageIndex}
        onPageIndex={setPageIndex}
        coins={coins}
        onChanged={() => {
          changed();
          transactions.reload();
        }}
      />
      <DisposalsCard portfolioId={id} refresh={refresh} />
      <CsvCard
        portfolioId={id}
        onImported={() => {
          changed();
          transactions.reload();
        }}
      />
    </div>
  );
}

function Portfolios() {
  const router = useRouter();
  const params = useSearchParams();
  const wanted = parseId(params.get("id"));
  const list = useApi("portfolios", (signal) =>
    unwrap(api.GET("/api/v1/portfolios", { params: { query: { limit: 500 } }, signal })),
  );
  const coins = useApi("coins:active", trackedCoins);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  // A portfolio just created, shown while the list reloads to include it.
  const [created, setCreated] = useState<Portfolio | null>(null);
  // Portfolios deleted here, left out while the list reloads without them.
  const [deletedIds, setDeletedIds] = useState<readonly number[]>([]);
  const { remember, restore } = useReturnFocus();
  const openFrom = (setOpen: (open: boolean) => void) => (opener: EventTarget) => {
    remember(opener);
    setOpen(true);
  };

  const portfolios = list.data?.items.filter((portfolio) => !deletedIds.includes(portfolio.id));
  const selected =
    portfolios?.find((portfolio) => portfolio.id === wanted) ??
    (created !== null && created.id === wanted ? created : null);
  const fallback = portfolios?.[0];

  // No id (or a bad one) in the address: show the first portfolio, and say so in the URL.
  useEffect(() => {
    if (wanted === null && fallback) router.replace(`/portfolio?id=${fallback.id}`);
  }, [wanted, fallback, router]);

  const newButton = (
    <Button onClick={(event) => openFrom(setCreating)(event.currentTarget)}>
      <Plus aria-hidden />
      New portfolio
    </Button>
  );

  let body;
  if (list.error) {
    body = <ErrorState error={list.error} title="Could not load your portfolios" retry={list.reload} />;
  } else if (!portfolios) {
    body = <LoadingRows rows={4} label="Loading portfolios" />;
  } else if (portfolios.length === 0 && selected === null) {
    body = (
      <EmptyState title="No portfolios yet">
        <p className="mb-3">Create one to record what you bought and sold and see what it is worth.</p>
        {newButton}
      </EmptyState>
    );
  } else {
    body = (
      <div className="grid gap-6 lg:grid-cols-[16rem_minmax(0,1fr)]">
        <PortfolioList portfolios={portfolios} selected={selected?.id ?? null} onNew={openFrom(setCreating)} />
        {selected ? (
          <PortfolioDetail
            key={selected.id}
            portfolio={selected}
            coins={coins.data ?? []}
            onEdit={openFrom(setEditing)}
            onDelete={openFrom(setDeleting)}
          />
        ) : wanted !== null ? (
          <EmptyState title="No such portfolio">
            Portfolio {wanted} is not one of yours. Pick one from the list.
          </EmptyState>
        ) : (
          <LoadingRows rows={4} label="Loading portfolio" />
        )}
      </div>
    );
  }

  return (
    <>
      {coins.error ? (
        <div className="mb-4">
          <ErrorState error={coins.error} title="Could not load the coins to pick from" retry={coins.reload} />
        </div>
      ) : null}
      {body}
      <PortfolioFormDialog
        open={creating}
        onOpenChange={setCreating}
        onCloseAutoFocus={restore}
        onSaved={(saved) => {
          setCreated(saved);
          list.reload();
          router.push(`/portfolio?id=${saved.id}`);
        }}
      />
      {selected ? (
        <>
          <PortfolioFormDialog
            open={editing}
            onOpenChange={setEditing}
            onCloseAutoFocus={restore}
            portfolio={selected}
            onSaved={() => list.reload()}
          />
          <ConfirmDialog
            open={deleting}
            onOpenChange={setDeleting}
            onCloseAutoFocus={restore}
            title="Delete portfolio?"
            description={`"${selected.name}" and all of its transactions will be deleted. This cannot be undone.`}
            confirmLabel="Delete portfolio"
            onConfirm={async () => {
              await unwrap(
                api.DELETE("/api/v1/portfolios/{portfolio_id}", {
                  params: { path: { portfolio_id: selected.id } },
                }),
              );
              const next = portfolios?.find((portfolio) => portfolio.id !== selected.id);
              setDeletedIds((ids) => [...ids, selected.id]);
              if (created?.id === selected.id) setCreated(null);
              list.reload();
              router.replace(next ? `/portfolio?id=${next.id}` : "/portfolio");
            }}
          />
        </>
      ) : null}
    </>
  );
}

/** The Portfolio page: the signed-in reader's portfolios, holdings and transactions. */
export function PortfolioView() {
  return (
    <>
      <PageHeader
        title="Portfolio"
        description="What you hold, what it cost, what it is worth now, and how it has done."
      />
      <RequireSignIn what="your portfolios">
        <Portfolios />
      </RequireSignIn>
    </>
  );
}
