import { PageHeader } from "@/components/states";

export default function PortfolioPage() {
  return <PageHeader title="Portfolio" />;
}
