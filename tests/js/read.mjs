// Reads an alliance exported by `alliance export --format automerge` (and its signatures, from
// `alliance export --format signatures`) with Automerge's JavaScript implementation, as any
// other program could: no code of alliance's own. Prints what it read as one JSON line.
//
//   node tests/js/read.mjs ALLIANCE.automerge SIGNATURES.json
import { readFileSync } from "node:fs";
import { createPublicKey, verify } from "node:crypto";
import * as Automerge from "@automerge/automerge";

const [docPath, sigPath] = process.argv.slice(2);
const doc = Automerge.load(new Uint8Array(readFileSync(docPath)));
const text = (t) => (t === undefined || t === null ? "" : t.toString());

// Every change of the history, by hash, with its author (the actor ID's first 32 bytes are
// the device's ed25519 key).
const changes = Automerge.getAllChanges(doc).map((bytes) => Automerge.decodeChange(bytes));
const byHash = new Map(changes.map((c) => [c.hash, c]));

// The signatures: ed25519 over the domain and the change hash, by the key in the change's own
// actor ID.
let verified = 0;
const problems = [];
if (sigPath) {
  const sigs = JSON.parse(readFileSync(sigPath, "utf8"));
  const domain = Buffer.from(sigs.domain_hex, "hex");
  for (const s of sigs.signatures) {
    const change = byHash.get(s.change);
    if (!change) {
      problems.push(`signature for a change not in the document: ${s.change}`);
      continue;
    }
    const device = change.actor.slice(0, 64);
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(device, "hex").toString("base64url") },
      format: "jwk",
    });
    const message = Buffer.concat([domain, Buffer.from(s.change, "hex")]);
    if (verify(null, message, key, Buffer.from(s.signature, "hex"))) {
      verified += 1;
    } else {
      problems.push(`bad signature on ${s.change}`);
    }
  }
}

const entries = (m) => Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b));
console.log(
  JSON.stringify({
    title: text(doc.title),
    start: text(doc.start),
    vision: text(doc.vision),
    members: entries(doc.members).map(([id, m]) => ({ id, name: text(m.name), reader: m.reader === true })),
    needs: entries(doc.needs).map(([id, n]) => ({ id, owner: text(n.owner), text: text(n.text) })),
    expectations: entries(doc.expectations).map(([id, e]) => ({ id, text: text(e.text) })),
    hashes: changes.map((c) => c.hash).sort(),
    heads: Automerge.getHeads(doc).sort(),
    verified,
    problems,
  }),
);
