import { PageHeader } from "@/components/states";

export default function AccountPage() {
  return <PageHeader title="Account" />;
}
