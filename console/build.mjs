// Builds the admin console (console/src -> console/dist) with esbuild: one ES module and
// one stylesheet, no timestamps or absolute paths in the output, so the same sources and
// package-lock.json give the same bytes on every machine.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

const outdir = new URL("./dist/", import.meta.url);
await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { console: new URL("./src/main.ts", import.meta.url).pathname },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  // teams-js is loaded only inside Teams (it fetches Teams' domain list when loaded)
  splitting: true,
  outdir: outdir.pathname,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
await copyFile(new URL("./src/console.css", import.meta.url), new URL("console.css", outdir));
