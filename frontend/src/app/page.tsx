import { PageHeader } from "@/components/states";

export default function MarketsPage() {
  return <PageHeader title="Markets" description="Tracked coins." />;
}
