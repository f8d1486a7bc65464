// `npm run codegen`: the typed operations come from ../../clients (graphql-codegen over
// schema.graphql). Its packages are installed here first when they are missing or older than its
// lockfile, so `npm ci && npm run dev` in this folder is all the example needs. Node is checked
// against this package's `engines` first, with one line that says what is wrong.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const clients = join(here, "..", "..", "clients");
const { engines } = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));

// Ranges as package.json writes them here: "^20.19.0 || >=22.12.0".
function satisfies(version, range) {
  const parse = (text) => text.replace(/^[v^>=]+/, "").split(".").map(Number);
  const [major, minor, patch] = parse(version);
  const atLeast = ([a, b, c]) => major > a || (major === a && (minor > b || (minor === b && patch >= c)));
  return range.split("||").some((part) => {
    const bound = parse(part.trim());
    return part.trim().startsWith("^") ? major === bound[0] && atLeast(bound) : atLeast(bound);
  });
}

function run(args) {
  const done = spawnSync("npm", args, { stdio: "inherit", shell: process.platform === "win32" });
  if (done.status !== 0) process.exit(done.status ?? 1);
}

if (!satisfies(process.version, engines.node)) {
  console.error(`examples/web needs Node ${engines.node}; this is Node ${process.version}`);
  process.exit(1);
}
const installed = join(clients, "node_modules", ".package-lock.json");
const lockfile = join(clients, "package-lock.json");
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lockfile).mtimeMs) {
  console.log("installing the packages of ../../clients (graphql-codegen) from its lockfile");
  run(["ci", "--prefix", clients, "--no-audit", "--no-fund", "--loglevel=error"]);
}
run(["--prefix", clients, "run", "--silent", "codegen"]);
