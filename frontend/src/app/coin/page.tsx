import type { Metadata } from "next";
import { Suspense } from "react";
import { CoinView } from "@/components/coin/coin-view";
import { LoadingRows } from "@/components/states";

export const metadata: Metadata = { title: "Coin" };

export default function CoinPage() {
  // useSearchParams() needs a Suspense boundary in a static export.
  return (
    <Suspense fallback={<LoadingRows rows={6} label="Loading the coin" />}>
      <CoinView />
    </Suspense>
  );
}
