import Link from "next/link";
import { EmptyState } from "@/components/states";

export default function NotFound() {
  return (
    <EmptyState title="There is no page here">
      <Link href="/" className="text-primary underline">
        Back to the markets
      </Link>
    </EmptyState>
  );
}
