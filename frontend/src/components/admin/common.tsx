"use client";
// Pieces every admin section shares: state badges, confirm requests for the shared
// ConfirmDialog, JSON blocks, refusals, a notice line, and polling while something is pending.
import { AlertTriangle, Info } from "lucide-react";
import { useEffect, useRef, type ComponentProps, type ReactNode } from "react";
import { ConfirmDialog } from "@/components/confirm-dialog";
import { Alert, AlertDescription, AlertTitle } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Label } from "@/components/ui/label";
import { prettyJson, stateLabel, stateVariant, validationLines } from "@/lib/admin";
import { ApiError, messageOf } from "@/lib/api/client";
import { cn } from "@/lib/utils";

export const PAGE_SIZE = 20;
export const POLL_MS = 3000;

/** A run's, model's or breaker's state as a coloured badge. */
export function StateBadge({ state, className }: { state: string | null | undefined; className?: string }) {
  if (!state) return <span className="text-muted-foreground">—</span>;
  return (
    <Badge variant={stateVariant(state)} className={className}>
      {stateLabel(state)}
    </Badge>
  );
}

/** Call `tick` every few seconds while `active` holds (a run is queued or running). */
export function usePolling(active: boolean, tick: () => void, everyMs: number = POLL_MS): void {
  const latest = useRef(tick);
  useEffect(() => {
    latest.current = tick;
  });
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => latest.current(), everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs]);
}

/** A labelled filter control in a toolbar. */
export function Field({
  id,
  label,
  children,
  className,
}: {
  id: string;
  label: string;
  children: ReactNode;
  className?: string;
}) {
  return (
    <div className={cn("flex min-w-36 flex-col gap-1.5", className)}>
      <Label htmlFor={id}>{label}</Label>
      {children}
    </div>
  );
}

/** A toolbar of filters that wraps on narrow screens. */
export function Toolbar({ children, className, ...props }: ComponentProps<"div">) {
  return (
    <div className={cn("mb-4 flex flex-wrap items-end gap-3", className)} {...props}>
      {children}
    </div>
  );
}

/** JSON as indented text in a scrolling block. */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre
      aria-label={label}
      tabIndex={0}
      className="max-h-72 overflow-auto rounded-md border bg-muted p-3 font-mono text-xs whitespace-pre-wrap break-all"
    >
      {prettyJson(value)}
    </pre>
  );
}

/** A collapsible JSON section (keyboard operable: a native <details>). */
export function JsonSection({ title, value, open = false }: { title: string; value: unknown; open?: boolean }) {
  return (
    <details open={open} className="rounded-md border">
      <summary className="cursor-pointer px-3 py-2 text-sm font-medium">{title}</summary>
      <div className="px-3 pb-3">
        <JsonBlock value={value} label={title} />
      </div>
    </details>
  );
}

/** Facts as a definition list in two columns. */
export function Facts({ items, className }: { items: [string, ReactNode][]; className?: string }) {
  return (
    <dl className={cn("grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm", className)}>
      {items.map(([term, value]) => (
        <div key={term} className="contents">
          <dt className="text-muted-foreground">{term}</dt>
          <dd className="min-w-0 break-words">{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** An action the API refused: its message, and the invalid fields of a 422. */
export function Refusal({ error, title = "The server refused" }: { error: unknown; title?: string }) {
  const lines = error instanceof ApiError ? validationLines(error.details) : [];
  return (
    <Alert variant="destructive" className="flex items-start gap-3">
      <AlertTriangle aria-hidden className="mt-0.5" />
      <div className="min-w-0 flex-1">
        <AlertTitle>{title}</AlertTitle>
        <AlertDescription>
          <p>{messageOf(error)}</p>
          {lines.length > 0 ? (
            <ul className="mt-1 list-disc pl-5">
              {lines.map((line) => (
                <li key={line}>{line}</li>
              ))}
            </ul>
          ) : null}
        </AlertDescription>
      </div>
    </Alert>
  );
}

/** What an action did, announced to screen readers, dismissable. */
export function Notice({ children, onDismiss }: { children: ReactNode; onDismiss?: () => void }) {
  return (
    <div
      role="status"
      className="mb-4 flex flex-wrap items-start gap-2 rounded-lg border bg-card px-4 py-3 text-sm"
    >
      <Info aria-hidden className="mt-0.5 size-4 shrink-0 text-primary" />
      <div className="min-w-0 flex-1">{children}</div>
      {onDismiss ? (
        <Button variant="ghost" size="sm" onClick={onDismiss}>
          Dismiss
        </Button>
      ) : null}
    </div>
  );
}

export interface ConfirmRequest {
  title: string;
  description: ReactNode;
  confirmLabel: string;
  destructive?: boolean;
  /** Does the work; its answer (a sentence) becomes the notice. Throws the API's error. */
  action: () => Promise<string>;
}

/** The shared ConfirmDialog for a request: its action's answer becomes the notice. */
export function ConfirmAction({
  request,
  onClose,
  onDone,
}: {
  request: ConfirmRequest | null;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  return (
    <ConfirmDialog
      open={request !== null}
      onOpenChange={(open) => {
        if (!open) onClose();
      }}
      title={request?.title ?? ""}
      description={request?.description}
      confirmLabel={request?.confirmLabel ?? ""}
      destructive={request?.destructive ?? false}
      onConfirm={async () => {
        if (request) onDone(await request.action());
      }}
    />
  );
}

/** The first characters of a task id, enough to tell runs apart. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}
