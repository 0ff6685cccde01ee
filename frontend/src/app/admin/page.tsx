import { PageHeader } from "@/components/states";

export default function AdminPage() {
  return <PageHeader title="Admin" />;
}
