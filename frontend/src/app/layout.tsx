import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { FreshnessBanner } from "@/components/freshness-banner";
import { SiteHeader } from "@/components/site-header";
import { SessionProvider } from "@/lib/session";
import { THEME_SCRIPT, ThemeProvider } from "@/lib/theme";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "CryptoPredict", template: "%s · CryptoPredict" },
  description: "Crypto prices and forecasts, with their measured skill against naive.",
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#ffffff" },
    { media: "(prefers-color-scheme: dark)", color: "#16181d" },
  ],
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: THEME_SCRIPT }} />
      </head>
      <body className="min-h-screen font-sans antialiased">
        <ThemeProvider>
          <SessionProvider>
            <SiteHeader />
            <FreshnessBanner />
            <main id="main" className="mx-auto max-w-7xl px-3 py-6 sm:px-6">
              {children}
            </main>
          </SessionProvider>
        </ThemeProvider>
      </body>
    </html>
  );
}
