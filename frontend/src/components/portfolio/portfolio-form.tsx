"use client";
import { useState, type FormEvent } from "react";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { formErrors, NO_ERRORS, type FormErrors } from "@/lib/form-errors";
import { FormAlert, SubmitButton } from "../form";
import { Button } from "../ui/button";
import { Dialog, DialogClose, DialogContent, DialogDescription, DialogTitle } from "../ui/dialog";
import { Field, fieldProps } from "../ui/field";
import { Input, NativeSelect, Textarea } from "../ui/input";

export type Portfolio = Schemas["PortfolioRead"];
type CostBasisMethod = Portfolio["cost_basis_method"];
type PortfolioField = "name" | "description" | "cost_basis_method";
const FIELDS: readonly PortfolioField[] = ["name", "description", "cost_basis_method"];
const METHODS: readonly { value: CostBasisMethod; label: string }[] = [
  { value: "fifo", label: "FIFO: oldest coins first" },
  { value: "lifo", label: "LIFO: newest coins first" },
  { value: "hifo", label: "HIFO: dearest coins first" },
  { value: "average", label: "Average cost" },
];

/** Create a portfolio (no `portfolio`) or rename / describe one; `onSaved` gets the result. */
export function PortfolioFormDialog({
  open,
  onOpenChange,
  onCloseAutoFocus,
  portfolio,
  onSaved,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** Where focus goes on close (see useReturnFocus). */
  onCloseAutoFocus?: (event: Event) => void;
  portfolio?: Portfolio;
  onSaved: (portfolio: Portfolio) => void;
}) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent onCloseAutoFocus={onCloseAutoFocus}>
        <DialogTitle>{portfolio ? "Edit portfolio" : "New portfolio"}</DialogTitle>
        <DialogDescription>
          {portfolio
            ? "Rename it, change its description or how its cost basis is counted."
            : "Names are unique among your portfolios."}
        </DialogDescription>
        {/* Mounted with the dialog, so each opening starts from the portfolio as it is. */}
        {open ? (
          <PortfolioForm
            portfolio={portfolio}
            onSaved={(saved) => {
              onOpenChange(false);
              onSaved(saved);
            }}
          />
        ) : null}
      </DialogContent>
    </Dialog>
  );
}

function PortfolioForm({
  portfolio,
  onSaved,
}: {
  portfolio?: Portfolio;
  onSaved: (portfolio: Portfolio) => void;
}) {
  const [name, setName] = useState(portfolio?.name ?? "");
  const [description, setDescription] = useState(portfolio?.description ?? "");
  const [method, setMethod] = useState<CostBasisMethod>(portfolio?.cost_basis_method ?? "fifo");
  const [pending, setPending] = useState(false);
  const [errors, setErrors] = useState<FormErrors<PortfolioField>>(NO_ERRORS);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setErrors(NO_ERRORS);
    const body = {
      name: name.trim(),
      description: description.trim() || null,
      cost_basis_method: method,
    };
    try {
      const saved = portfolio
        ? await unwrap(
            api.PATCH("/api/v1/portfolios/{portfolio_id}", {
              params: { path: { portfolio_id: portfolio.id } },
              body,
            }),
          )
        : await unwrap(api.POST("/api/v1/portfolios", { body }));
      onSaved(saved);
    } catch (error) {
      setErrors(formErrors(error, FIELDS));
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4">
      <FormAlert message={errors.message} />
      <Field id="portfolio-name" label="Name" error={errors.fields.name}>
        <Input
          {...fieldProps("portfolio-name", errors.fields.name)}
          value={name}
          onChange={(event) => setName(event.target.value)}
          maxLength={100}
          autoComplete="off"
          required
        />
      </Field>
      <Field id="portfolio-description" label="Description (optional)" error={errors.fields.description}>
        <Textarea
          {...fieldProps("portfolio-description", errors.fields.description)}
          value={description}
          onChange={(event) => setDescription(event.target.value)}
          maxLength={1000}
        />
      </Field>
      <Field
        id="portfolio-method"
        label="Cost basis: which coins a sale takes"
        error={errors.fields.cost_basis_method}
      >
        <NativeSelect
          {...fieldProps("portfolio-method", errors.fields.cost_basis_method)}
          value={method}
          onChange={(event) => setMethod(event.target.value as CostBasisMethod)}
        >
          {METHODS.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </NativeSelect>
      </Field>
      <div className="flex flex-wrap justify-end gap-2">
        <DialogClose asChild>
          <Button type="button" variant="outline">
            Cancel
          </Button>
        </DialogClose>
        <SubmitButton pending={pending}>{portfolio ? "Save" : "Create portfolio"}</SubmitButton>
      </div>
    </form>
  );
}
