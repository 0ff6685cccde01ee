"use client";
import { Pencil, Plus, Trash2 } from "lucide-react";
import { useRef, useState } from "react";
import { api, unwrap } from "@/lib/api/client";
import { formatDecimal, formatMoney } from "@/lib/decimal";
import { pageInfo } from "@/lib/paging";
import { KIND_LABELS, type Transaction } from "@/lib/transactions";
import { useReturnFocus } from "@/lib/use-return-focus";
import { ConfirmDialog } from "../confirm-dialog";
import { Pager } from "../pager";
import { EmptyState, ErrorState, LoadingRows } from "../states";
import { Time } from "../time";
import { Badge } from "../ui/badge";
import { Button } from "../ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";
import { TransactionFormDialog, type Coin } from "./transaction-form";

export const PAGE_SIZE = 20;
interface TransactionPage {
  items: Transaction[];
  total: number;
}

function describe(transaction: Transaction): string {
  return `${KIND_LABELS[transaction.kind].toLowerCase()} of ${formatDecimal(transaction.quantity)} ${transaction.coin.symbol.toUpperCase()}`;
}

/** The portfolio's transactions, newest first, a page at a time. */
export function TransactionsCard({
  portfolioId,
  page,
  error,
  loading,
  retry,
  pageIndex,
  onPageIndex,
  coins,
  onChanged,
}: {
  portfolioId: number;
  page: TransactionPage | undefined;
  error: unknown;
  loading: boolean;
  retry: () => void;
  /** 0: the newest page. */
  pageIndex: number;
  onPageIndex: (index: number) => void;
  coins: Coin[];
  onChanged: () => void;
}) {
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Transaction | null>(null);
  const [deleting, setDeleting] = useState<Transaction | null>(null);
  const addButton = useRef<HTMLButtonElement>(null);
  const { remember, restore } = useReturnFocus(addButton);

  const total = page?.total ?? 0;
  const items = page?.items ?? [];
  const info = pageInfo(pageIndex + 1, PAGE_SIZE, total);

  return (
    <Card>
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-3">
        <div className="flex flex-col gap-1">
          <CardTitle>Transactions</CardTitle>
          <CardDescription>Buys, sells and transfers, newest first; times in your time zone.</CardDescription>
        </div>
        <Button
          ref={addButton}
          onClick={(event) => {
            remember(event.currentTarget);
            setAdding(true);
          }}
          disabled={coins.length === 0}
        >
          <Plus aria-hidden />
          Add transaction
        </Button>
      </CardHeader>
      <CardContent className="flex flex-col gap-3">
        {error ? (
          <ErrorState error={error} title="Could not load the transactions" retry={retry} />
        ) : loading || !page ? (
          <LoadingRows rows={4} label="Loading transactions" />
        ) : total === 0 ? (
          <EmptyState title="No transactions yet">Add the first one to see holdings and their value.</EmptyState>
        ) : (
          <>
            <Table aria-label="Transactions">
              <TableHeader>
                <TableRow>
                  <TableHead scope="col">Executed at</TableHead>
                  <TableHead scope="col">Kind</TableHead>
                  <TableHead scope="col">Coin</TableHead>
                  <TableHead scope="col" className="text-right">Quantity</TableHead>
                  <TableHead scope="col" className="text-right">Price</TableHead>
                  <TableHead scope="col" className="text-right">Fee</TableHead>
                  <TableHead scope="col">Note</TableHead>
                  <TableHead scope="col" className="text-right">
                    <span className="sr-only">Actions</span>
                  </TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {items.map((transaction) => (
                  <TableRow key={transaction.id}>
                    <TableCell>
                      <Time iso={transaction.executed_at} />
                    </TableCell>
                    <TableCell>
                      <Badge variant={transaction.kind === "buy" || transaction.kind === "transfer_in" ? "secondary" : "outline"}>
                        {KIND_LABELS[transaction.kind]}
                      </Badge>
                    </TableCell>
                    <TableCell>
                      {transaction.coin.name}{" "}
                      <span className="text-xs text-muted-foreground uppercase">{transaction.coin.symbol}</span>
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{formatDecimal(transaction.quantity)}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {transaction.price === null ? "—" : formatMoney(transaction.price, { exact: true })}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatMoney(transaction.fee, { exact: true })}
                    </TableCell>
                    <TableCell className="max-w-40 truncate" title={transaction.note ?? undefined}>
                      {transaction.note ?? ""}
                    </TableCell>
                    <TableCell className="py-1 text-right">
                      <div className="flex justify-end">
                        <Button
                          size="icon"
                          variant="ghost"
                          aria-label={`Edit ${describe(transaction)}`}
                          title="Edit"
                          onClick={(event) => {
                            remember(event.currentTarget);
                            setEditing(transaction);
                          }}
                        >
                          <Pencil aria-hidden />
                        </Button>
                        <Button
                          size="icon"
                          variant="ghost"
                          aria-label={`Delete ${describe(transaction)}`}
                          title="Delete"
                          onClick={(event) => {
                            remember(event.currentTarget);
                            setDeleting(transaction);
                          }}
                        >
                          <Trash2 aria-hidden />
                        </Button>
                      </div>
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
            <Pager
              info={info}
              onPage={(next) => onPageIndex(next - 1)}
              label="Transaction pages"
              noun="transactions"
              previousLabel="Newer"
              nextLabel="Older"
              className="pt-0"
            />
          </>
        )}
      </CardContent>

      <TransactionFormDialog
        open={adding}
        onOpenChange={setAdding}
        onCloseAutoFocus={restore}
        portfolioId={portfolioId}
        coins={coins}
        onSaved={onChanged}
      />
      <TransactionFormDialog
        open={editing !== null}
        onCloseAutoFocus={restore}
        onOpenChange={(open) => {
          if (!open) setEditing(null);
        }}
        portfolioId={portfolioId}
        transaction={editing ?? undefined}
        coins={coins}
        onSaved={onChanged}
      />
      <ConfirmDialog
        open={deleting !== null}
        onCloseAutoFocus={restore}
        onOpenChange={(open) => {
          if (!open) setDeleting(null);
        }}
        title="Delete transaction?"
        description={
          deleting
            ? `The ${describe(deleting)} will be removed and the holdings recomputed. This cannot be undone.`
            : ""
        }
        confirmLabel="Delete transaction"
        onConfirm={async () => {
          if (!deleting) return;
          await unwrap(
            api.DELETE("/api/v1/portfolios/{portfolio_id}/transactions/{transaction_id}", {
              params: { path: { portfolio_id: portfolioId, transaction_id: deleting.id } },
            }),
          );
          // The last row of a page gone: show the page before it.
          if (items.length === 1 && pageIndex > 0) onPageIndex(pageIndex - 1);
          onChanged();
        }}
      />
    </Card>
  );
}
