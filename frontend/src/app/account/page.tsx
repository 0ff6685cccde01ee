import type { Metadata } from "next";
import { Suspense } from "react";
import { AccountView } from "@/components/account/account-view";
import { PageHeader } from "@/components/states";

export const metadata: Metadata = { title: "Account" };

export default function AccountPage() {
  return (
    <Suspense fallback={<PageHeader title="Account" />}>
      <AccountView />
    </Suspense>
  );
}
