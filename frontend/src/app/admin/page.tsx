import type { Metadata } from "next";
import { Suspense } from "react";
import { AdminConsole } from "@/components/admin/admin-console";
import { LoadingRows, PageHeader } from "@/components/states";

export const metadata: Metadata = { title: "Admin" };

export default function AdminPage() {
  return (
    <Suspense
      fallback={
        <>
          <PageHeader title="Admin" />
          <LoadingRows rows={4} />
        </>
      }
    >
      <AdminConsole />
    </Suspense>
  );
}
