"use client";
import { useState, type FormEvent } from "react";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { formErrors, NO_ERRORS, type FormErrors } from "@/lib/form-errors";
import {
  emptyForm,
  formFromTransaction,
  isoToLocalInput,
  KIND_LABELS,
  needsPrice,
  TRANSACTION_FIELDS,
  TRANSACTION_KINDS,
  transactionBody,
  type Transaction,
  type TransactionField,
  type TransactionForm,
  type TransactionKind,
} from "@/lib/transactions";
import { FormAlert, SubmitButton } from "../form";
import { Button } from "../ui/button";
import { Dialog, DialogClose, DialogContent, DialogDescription, DialogTitle } from "../ui/dialog";
import { Field, fieldProps } from "../ui/field";
import { Input, NativeSelect, Textarea } from "../ui/input";

export type Coin = Schemas["CoinRead"];

/** Add a transaction to a portfolio (no `transaction`) or edit one; `onSaved` after. */
export function TransactionFormDialog({
  open,
  onOpenChange,
  onCloseAutoFocus,
  portfolioId,
  transaction,
  coins,
  onSaved,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** Where focus goes on close (see useReturnFocus). */
  onCloseAutoFocus?: (event: Event) => void;
  portfolioId: number;
  transaction?: Transaction;
  coins: Coin[];
  onSaved: () => void;
}) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-xl" onCloseAutoFocus={onCloseAutoFocus}>
        <DialogTitle>{transaction ? "Edit transaction" : "Add transaction"}</DialogTitle>
        <DialogDescription>
          Amounts are in US dollars. Holdings are recomputed from every transaction in time order.
        </DialogDescription>
        {open ? (
          <TransactionFormBody
            portfolioId={portfolioId}
            transaction={transaction}
            coins={coins}
            onSaved={() => {
              onOpenChange(false);
              onSaved();
            }}
          />
        ) : null}
      </DialogContent>
    </Dialog>
  );
}

function coinLabel(coin: { name: string; symbol: string }): string {
  return `${coin.name} (${coin.symbol.toUpperCase()})`;
}

function TransactionFormBody({
  portfolioId,
  transaction,
  coins,
  onSaved,
}: {
  portfolioId: number;
  transaction?: Transaction;
  coins: Coin[];
  onSaved: () => void;
}) {
  const [form, setForm] = useState<TransactionForm>(() =>
    transaction ? formFromTransaction(transaction) : emptyForm(coins[0]?.coingecko_id ?? ""),
  );
  const [pending, setPending] = useState(false);
  const [errors, setErrors] = useState<FormErrors<TransactionField>>(NO_ERRORS);
  const [now] = useState(() => isoToLocalInput(new Date().toISOString()));

  const set = <K extends keyof TransactionForm>(key: K, value: TransactionForm[K]) =>
    setForm((current) => ({ ...current, [key]: value }));
  const error = (field: TransactionField) => errors.fields[field];

  // A transaction's coin may since have left the active catalogue: still offer it.
  const options = coins.map((coin) => ({ id: coin.coingecko_id, label: coinLabel(coin) }));
  if (transaction && !options.some((option) => option.id === transaction.coin.coingecko_id)) {
    options.unshift({ id: transaction.coin.coingecko_id, label: coinLabel(transaction.coin) });
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setErrors(NO_ERRORS);
    const body = transactionBody(form);
    try {
      if (transaction) {
        await unwrap(
          api.PATCH("/api/v1/portfolios/{portfolio_id}/transactions/{transaction_id}", {
            params: { path: { portfolio_id: portfolioId, transaction_id: transaction.id } },
            body,
          }),
        );
      } else {
        await unwrap(
          api.POST("/api/v1/portfolios/{portfolio_id}/transactions", {
            params: { path: { portfolio_id: portfolioId } },
            body,
          }),
        );
      }
      onSaved();
    } catch (failure) {
      setErrors(formErrors(failure, TRANSACTION_FIELDS));
      setPending(false);
    }
  }

  const priceNeeded = needsPrice(form.kind);
  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4">
      <FormAlert message={errors.message} />
      <div className="grid gap-4 sm:grid-cols-2">
        <Field id="tx-kind" label="Kind" error={error("kind")}>
          <NativeSelect
            {...fieldProps("tx-kind", error("kind"))}
            value={form.kind}
            onChange={(event) => set("kind", event.target.value as TransactionKind)}
          >
            {TRANSACTION_KINDS.map((kind) => (
              <option key={kind} value={kind}>
                {KIND_LABELS[kind]}
              </option>
            ))}
          </NativeSelect>
        </Field>
        <Field id="tx-coin" label="Coin" error={error("coin")}>
          <NativeSelect
            {...fieldProps("tx-coin", error("coin"))}
            value={form.coin}
            onChange={(event) => set("coin", event.target.value)}
          >
            {options.length === 0 ? <option value="">No coins tracked</option> : null}
            {options.map((option) => (
              <option key={option.id} value={option.id}>
                {option.label}
              </option>
            ))}
          </NativeSelect>
        </Field>
        <Field id="tx-quantity" label="Quantity" error={error("quantity")}>
          <Input
            {...fieldProps("tx-quantity", error("quantity"))}
            inputMode="decimal"
            autoComplete="off"
            value={form.quantity}
            onChange={(event) => set("quantity", event.target.value)}
            required
          />
        </Field>
        <Field
          id="tx-price"
          label="Price"
          error={error("price")}
          hint={priceNeeded ? "Per coin, in USD." : "Per coin, in USD; optional for a transfer."}
        >
          <Input
            {...fieldProps("tx-price", error("price"), true)}
            inputMode="decimal"
            autoComplete="off"
            value={form.price}
            onChange={(event) => set("price", event.target.value)}
            required={priceNeeded}
          />
        </Field>
        <Field id="tx-fee" label="Fee" error={error("fee")} hint="In USD; empty for none.">
          <Input
            {...fieldProps("tx-fee", error("fee"), true)}
            inputMode="decimal"
            autoComplete="off"
            value={form.fee}
            onChange={(event) => set("fee", event.target.value)}
          />
        </Field>
        <Field id="tx-executed-at" label="Executed at" error={error("executed_at")} hint="Your local time.">
          <Input
            {...fieldProps("tx-executed-at", error("executed_at"), true)}
            type="datetime-local"
            max={now}
            value={form.executedAt}
            onChange={(event) => set("executedAt", event.target.value)}
            required
          />
        </Field>
      </div>
      <Field id="tx-note" label="Note (optional)" error={error("note")}>
        <Textarea
          {...fieldProps("tx-note", error("note"))}
          maxLength={500}
          value={form.note}
          onChange={(event) => set("note", event.target.value)}
        />
      </Field>
      <div className="flex flex-wrap justify-end gap-2">
        <DialogClose asChild>
          <Button type="button" variant="outline">
            Cancel
          </Button>
        </DialogClose>
        <SubmitButton pending={pending}>{transaction ? "Save transaction" : "Add transaction"}</SubmitButton>
      </div>
    </form>
  );
}
