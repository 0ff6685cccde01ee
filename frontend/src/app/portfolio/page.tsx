import type { Metadata } from "next";
import { Suspense } from "react";
import { PortfolioView } from "@/components/portfolio/portfolio-view";
import { PageHeader } from "@/components/states";

export const metadata: Metadata = { title: "Portfolio" };

export default function PortfolioPage() {
  return (
    <Suspense fallback={<PageHeader title="Portfolio" />}>
      <PortfolioView />
    </Suspense>
  );
}
