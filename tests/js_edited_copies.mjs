// Runs edited copies of the JS verifier, one after another, in this one node process (tests/test_js_verifier.py):
// each stdin line is {"verifier": path, "args": [...]}: the copy (which exports its main) is imported, its main
// run on args with what it writes to stdout caught; each answer is one line {"code", "out"} or {"error"}.
// The copies share one set of the signatures they checked (each copy's line `const VERIFIED = ...` was made
// to read globalThis.a2aVerifiedSignatures): checking one signature is the same in every copy, and it was
// about half of a copy's run of chains.json.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const write = process.stdout.write.bind(process.stdout);
for await (const line of createInterface({ input: process.stdin })) {
  const { verifier, args } = JSON.parse(line);
  let out = "";
  let answer;
  process.stdout.write = (s) => ((out += s), true);
  try {
    const { main } = await import(pathToFileURL(verifier).href);
    answer = { code: await main(args), out };
  } catch (e) {
    answer = { error: String(e?.stack ?? e) };
  } finally {
    process.stdout.write = write;
  }
  write(JSON.stringify(answer) + "\n");
}
