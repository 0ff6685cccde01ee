import type { Metadata } from "next";
import { MarketsTable } from "@/components/markets/markets-table";
import { PageHeader } from "@/components/states";

// The root layout's title template skips its own segment, so this page spells it out.
export const metadata: Metadata = { title: { absolute: "Markets · CryptoPredict" } };

export default function MarketsPage() {
  return (
    <>
      <PageHeader title="Markets" description="Tracked coins, prices in US dollars, updated live." />
      <MarketsTable />
    </>
  );
}
