"use client";
import { Download, Upload } from "lucide-react";
import { useId, useState, type ChangeEvent } from "react";
import { api, ApiError, messageOf, unwrap, type Schemas } from "@/lib/api/client";
import { formatDecimal } from "@/lib/decimal";
import { Button } from "../ui/button";
import { Alert, AlertDescription, AlertTitle } from "../ui/alert";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";

type ImportResult = Schemas["ImportResult"];
type Export = "/api/v1/portfolios/{portfolio_id}/export/transactions.csv" | "/api/v1/portfolios/{portfolio_id}/export/pnl.csv";

/** Save a CSV the API sends (signed in, so fetched rather than linked). */
async function download(portfolioId: number, path: Export, filename: string): Promise<void> {
  const { data, response } = await api.GET(path, {
    params: { path: { portfolio_id: portfolioId } },
    parseAs: "text",
  });
  if (!response.ok || data === undefined) throw ApiError.from(response.status, undefined);
  const url = URL.createObjectURL(new Blob([data], { type: "text/csv" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.click();
  URL.revokeObjectURL(url);
}

function importCsv(portfolioId: number, text: string, dryRun: boolean): Promise<ImportResult> {
  return unwrap(
    api.POST("/api/v1/portfolios/{portfolio_id}/import", {
      params: { path: { portfolio_id: portfolioId }, query: { dry_run: dryRun } },
      body: text,
      bodySerializer: (body: string) => body,
      headers: { "Content-Type": "text/csv" },
    }),
  );
}

/** The problems a refused import lists, one per line number. */
function problems(error: unknown): string[] {
  if (!(error instanceof ApiError) || !Array.isArray(error.details)) return [];
  return error.details.flatMap((detail: unknown) => {
    if (typeof detail !== "object" || detail === null) return [];
    const { line, msg } = detail as { line?: unknown; msg?: unknown };
    return typeof msg === "string" ? [`${typeof line === "number" && line > 0 ? `Line ${line}: ` : ""}${msg}`] : [];
  });
}

/** Export the transactions and the P&L report; import a CSV after previewing it. */
export function CsvCard({ portfolioId, onImported }: { portfolioId: number; onImported: () => void }) {
  const inputId = useId();
  const [text, setText] = useState<string | null>(null);
  const [preview, setPreview] = useState<ImportResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<ImportResult | null>(null);
  const [pending, setPending] = useState(false);

  async function choose(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    setPreview(null);
    setDone(null);
    setError(null);
    if (!file) return;
    setPending(true);
    try {
      const content = await file.text();
      setText(content);
      setPreview(await importCsv(portfolioId, content, true));
    } catch (caught) {
      setError(caught);
    } finally {
      setPending(false);
    }
  }

  async function apply() {
    if (text === null) return;
    setPending(true);
    try {
      setDone(await importCsv(portfolioId, text, false));
      setPreview(null);
      onImported();
    } catch (caught) {
      setError(caught);
    } finally {
      setPending(false);
    }
  }

  async function save(path: Export, filename: string) {
    setError(null);
    try {
      await download(portfolioId, path, filename);
    } catch (caught) {
      setError(caught);
    }
  }

  const listed = problems(error);
  return (
    <Card>
      <CardHeader>
        <CardTitle>Import and export</CardTitle>
        <CardDescription>
          CSV with a header line: executed_at (ISO 8601 with an offset, or a date for midnight UTC), coin, kind,
          quantity, price and fee in USD, note. An import is all or nothing; you see what it would record first.
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-4">
        <div className="flex flex-wrap gap-2">
          <Button
            variant="outline"
            size="sm"
            onClick={() => save("/api/v1/portfolios/{portfolio_id}/export/transactions.csv", "transactions.csv")}
          >
            <Download aria-hidden />
            Export transactions
          </Button>
          <Button
            variant="outline"
            size="sm"
            onClick={() => save("/api/v1/portfolios/{portfolio_id}/export/pnl.csv", "realised-pnl.csv")}
          >
            <Download aria-hidden />
            Export P&L report
          </Button>
          <label
            htmlFor={inputId}
            className="inline-flex h-8 cursor-pointer items-center gap-2 rounded-md border px-3 text-sm font-medium hover:bg-accent"
          >
            <Upload aria-hidden className="size-4" />
            Import CSV
          </label>
          <input id={inputId} type="file" accept=".csv,text/csv" className="sr-only" onChange={choose} />
        </div>
        {pending ? <p className="text-sm text-muted-foreground">Checking…</p> : null}
        {error ? (
          <Alert variant="destructive">
            <AlertTitle>{messageOf(error)}</AlertTitle>
            {listed.length > 0 ? (
              <AlertDescription>
                <ul className="list-disc pl-5">
                  {listed.map((problem) => (
                    <li key={problem}>{problem}</li>
                  ))}
                </ul>
              </AlertDescription>
            ) : null}
          </Alert>
        ) : null}
        {preview ? (
          <Alert>
            <AlertTitle>
              {preview.created} transaction{preview.created === 1 ? "" : "s"} would be recorded
              {preview.duplicates.length > 0 ? `; ${preview.duplicates.length} repeated line(s) left out` : ""}
            </AlertTitle>
            <AlertDescription className="flex flex-col gap-2">
              <ul className="list-disc pl-5">
                {preview.holdings.map((change) => (
                  <li key={change.coin.id}>
                    {change.coin.name}: {formatDecimal(change.before)} → {formatDecimal(change.after)}
                  </li>
                ))}
              </ul>
              <div className="flex gap-2">
                <Button size="sm" onClick={apply} disabled={pending || preview.created === 0}>
                  Import {preview.created} transaction{preview.created === 1 ? "" : "s"}
                </Button>
                <Button size="sm" variant="outline" onClick={() => setPreview(null)}>
                  Cancel
                </Button>
              </div>
            </AlertDescription>
          </Alert>
        ) : null}
        {done ? (
          <p role="status" className="text-sm">
            Imported {done.created} transaction{done.created === 1 ? "" : "s"}.
          </p>
        ) : null}
      </CardContent>
    </Card>
  );
}
