import type { Metadata } from "next";
import { Suspense } from "react";
import { CoinView } from "@/components/coin/coin-view";
import { LoadingRows } from "@/components/states";
import { COIN_PAGE_EARLY } from "@/lib/api/coin";
import { earlyScript } from "@/lib/api/early";

export const metadata: Metadata = { title: "Coin" };

export default function CoinPage() {
  // useSearchParams() needs a Suspense boundary in a static export. The script asks for
  // the chart's data as the HTML is parsed, while the page's JavaScript still downloads.
  return (
    <>
      <script dangerouslySetInnerHTML={{ __html: earlyScript(COIN_PAGE_EARLY) }} />
      <Suspense fallback={<LoadingRows rows={6} label="Loading the coin" />}>
        <CoinView />
      </Suspense>
    </>
  );
}
