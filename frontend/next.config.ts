import type { NextConfig } from "next";

// A static export served by the API server (src/cryptopredict/web/static.py): no Node.js
// server at run time, so no image optimisation and no server-side routes.
const nextConfig: NextConfig = {
  output: "export",
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
  // The dev server proxies API calls to a running `cryptopredict serve`.
  ...(process.env.NODE_ENV === "development"
    ? {
        async rewrites() {
          const api = process.env.CRYPTOPREDICT_API ?? "http://127.0.0.1:8000";
          return ["/api/:path*", "/health/:path*"].map((source) => ({
            source,
            destination: `${api}${source}`,
          }));
        },
      }
    : {}),
};

export default nextConfig;
