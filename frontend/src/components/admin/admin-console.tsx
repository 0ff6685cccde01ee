"use client";
// The admin page: RequireSignIn's admin gate (the server refuses non-admins anyway, and
// each section shows its message), then one tab per section with the tab in ?tab=.
import type { ReactNode } from "react";
import dynamic from "next/dynamic";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { RequireSignIn } from "@/components/require-sign-in";
import { LoadingRows, PageHeader } from "@/components/states";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { ADMIN_TABS, parseTab, tabLabel, type AdminTab } from "@/lib/admin";
import { useSession } from "@/lib/session";

// Each section's code loads when its tab is first opened, keeping the route's first load small.
const loading = () => <LoadingRows rows={5} label="Loading the section" />;
const SyncPanel = dynamic(() => import("./sync-panel").then((m) => m.SyncPanel), { loading });
const TasksPanel = dynamic(() => import("./tasks-panel").then((m) => m.TasksPanel), { loading });
const ModelsPanel = dynamic(() => import("./models-panel").then((m) => m.ModelsPanel), { loading });
const MonitoringPanel = dynamic(() => import("./monitoring-panel").then((m) => m.MonitoringPanel), {
  loading,
});
const UsersPanel = dynamic(() => import("./users-panel").then((m) => m.UsersPanel), { loading });
const SystemPanel = dynamic(() => import("./system-panel").then((m) => m.SystemPanel), { loading });

const DESCRIPTION = "Syncs, background tasks, models, monitoring, users and the system.";

export function AdminConsole() {
  return (
    <>
      <PageHeader title="Admin" description={DESCRIPTION} />
      <RequireSignIn role="admin" what="the admin pages">
        <AdminSections />
      </RequireSignIn>
    </>
  );
}

function AdminSections() {
  const { user } = useSession();
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const tab = parseTab(params.get("tab"));

  function select(value: string) {
    const next = new URLSearchParams(params.toString());
    next.set("tab", parseTab(value));
    router.replace(`${pathname}?${next.toString()}`, { scroll: false });
  }

  return (
    <Tabs value={tab} onValueChange={select}>
      <TabsList aria-label="Admin sections" className="mb-6 h-auto flex-wrap justify-start">
        {ADMIN_TABS.map((value) => (
          <TabsTrigger key={value} value={value}>
            {tabLabel(value)}
          </TabsTrigger>
        ))}
      </TabsList>
      <Section value="sync" tab={tab}>
        <SyncPanel />
      </Section>
      <Section value="tasks" tab={tab}>
        <TasksPanel />
      </Section>
      <Section value="models" tab={tab}>
        <ModelsPanel />
      </Section>
      <Section value="monitoring" tab={tab}>
        <MonitoringPanel />
      </Section>
      <Section value="users" tab={tab}>
        {user ? <UsersPanel currentUserId={user.id} /> : null}
      </Section>
      <Section value="system" tab={tab}>
        <SystemPanel />
      </Section>
    </Tabs>
  );
}

/** Only the selected section is mounted, so only its data loads (and polls). */
function Section({ value, tab, children }: { value: AdminTab; tab: AdminTab; children: ReactNode }) {
  return (
    <TabsContent value={value} className="focus-visible:outline-2 focus-visible:outline-ring">
      {tab === value ? children : null}
    </TabsContent>
  );
}
