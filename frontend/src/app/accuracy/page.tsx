import { PageHeader } from "@/components/states";

export default function AccuracyPage() {
  return <PageHeader title="Accuracy" />;
}
