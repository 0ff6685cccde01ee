import { PageHeader } from "@/components/states";

export default function CoinPage() {
  return <PageHeader title="Coin" />;
}
