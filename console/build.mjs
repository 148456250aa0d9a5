// Builds the admin console (console/src -> console/dist) with esbuild: one ES module and
// one stylesheet, no timestamps or absolute paths in the output, so the same sources and
// package-lock.json give the same bytes on every machine. Also lays out the API reference
// page (/api/docs): Swagger UI's files from swagger-ui-dist and its start script, in
// console/dist/api-docs.
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

const docs = new URL("./api-docs/", outdir);
await mkdir(docs, { recursive: true });
const swaggerUi = new URL("../node_modules/swagger-ui-dist/", import.meta.url);
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  await copyFile(new URL(name, swaggerUi), new URL(name, docs));
}
for (const name of ["index.html", "api-docs.js"]) {
  await copyFile(new URL(`./api-docs/${name}`, import.meta.url), new URL(name, docs));
}
