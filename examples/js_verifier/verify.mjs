#!/usr/bin/env node
// An offline verifier of the a2a-coop conformance vectors, written from SPEC.md and proto/*.proto
// alone (no code of the Python reference was read while writing it). Node 20, no npm dependencies:
// node:crypto gives SHA-256 and Ed25519, and the protobuf reader below is the decoding profile of
// SPEC 6.2.1 written out.
//
//   node examples/js_verifier/verify.mjs conformance/vectors/*.json          # summary
//   node examples/js_verifier/verify.mjs --json conformance/vectors/*.json   # machine-readable
//   node examples/js_verifier/verify.mjs --verbose FILE                      # every disagreement
//   node examples/js_verifier/verify.mjs [--json] evidence.json               # a transcript: verdict, proofs
//   node examples/js_verifier/verify.mjs --trust-escrow KEY evidence.json     # ... reading KEY's Stamps only
//
// What it implements is the list LAYERS below; see README.md next to this file.

import { createHash, createPublicKey, verify as edVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";

// ---------------------------------------------------------------------------------------------
// Constants (SPEC 0.5)

const PAYLOAD_TYPE = "application/vnd.a2acoop.statement.v1+protobuf";
const MAX_ENVELOPE = 65536;
const MAX_INT = (1n << 53n) - 1n;
const SKEW_MS = 30000n;
const CLAIM_WINDOW = 86400000n;
const U32 = 1n << 32n;
const U64 = 1n << 64n;

class Reject extends Error {
  constructor(code, requirement, detail) {
    super(`${code} (${requirement}): ${detail}`);
    this.code = code;
    this.requirement = requirement;
    this.detail = detail;
  }
}
const fail = (code, req, detail) => {
  throw new Reject(code, req, detail);
};

const sha256 = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const hex = (b) => Buffer.from(b).toString("hex");

// ---------------------------------------------------------------------------------------------
// Schema (proto/a2acoop/v1/*.proto). type: u32 u64 bool enum string bytes or a message name.

const F = (n, name, type, opts = {}) => ({ n, name, type, ...opts });
const SCHEMA = {
  Envelope: [F(1, "payload", "bytes"), F(2, "payload_type", "string"), F(3, "signatures", "Signature", { rep: true })],
  Signature: [F(1, "keyid", "string"), F(2, "sig", "bytes")],
  Statement: [
    F(1, "header", "Header"),
    ...[
      [10, "mandate", "Mandate"], [11, "key_rotation", "KeyRotation"], [12, "key_revocation", "KeyRevocation"],
      [13, "checkpoint", "Checkpoint"], [20, "offer", "Offer"], [21, "counter", "Counter"], [22, "accept", "Accept"],
      [23, "reject", "Reject"], [24, "withdraw", "Withdraw"], [30, "bond_lock", "BondLock"],
      [31, "delivery", "Delivery"], [32, "receipt", "Receipt"], [33, "breach_claim", "BreachClaim"],
      [34, "revoke", "Revoke"], [35, "release", "Release"], [36, "forfeit", "Forfeit"], [37, "refund", "Refund"],
      [38, "reveal", "Reveal"], [39, "ruling", "Ruling"], [40, "attestation", "Attestation"], [41, "ack", "Ack"],
      [42, "deposit", "Deposit"], [43, "stamp", "Stamp"],
    ].map(([n, name, t]) => F(n, name, t, { oneof: "body" })),
  ],
  Header: [
    F(1, "version", "u32"), F(2, "issuer", "string"), F(3, "audience", "string"), F(4, "seq", "u64"),
    F(5, "prev", "bytes"), F(6, "issued_at_ms", "u64"), F(7, "not_before_ms", "u64"), F(8, "expires_at_ms", "u64"),
    F(9, "nonce", "bytes"), F(10, "negotiation_id", "bytes"), F(11, "refs", "bytes", { rep: true }),
    F(12, "mandate", "bytes"),
  ],
  Mandate: [
    F(1, "agent", "string"), F(2, "valid_from_ms", "u64"), F(3, "valid_until_ms", "u64"), F(4, "currency", "string"),
    F(5, "max_per_deal", "u64"), F(6, "min_per_deal", "u64"), F(7, "budget_per_period", "u64"),
    F(8, "period_ms", "u64"), F(9, "max_outstanding", "u64"), F(10, "allowed_categories", "string", { rep: true }),
    F(11, "allowed_counterparties", "string", { rep: true }), F(12, "execution_window_end_ms", "u64"),
    F(13, "succeeds", "string"),
  ],
  KeyRotation: [F(1, "new_key", "string")],
  KeyRevocation: [F(1, "key", "string"), F(2, "effective_ms", "u64"), F(3, "reason", "string"), F(4, "chain_length", "u64")],
  Checkpoint: [F(1, "log_root", "bytes")],
  Item: [
    F(1, "kind", "enum"), F(2, "category", "string"), F(3, "description", "string"), F(4, "quantity", "u64"),
    F(5, "unit", "string"), F(6, "value", "u64"), F(7, "deadline_ms", "u64"), F(8, "spec_digest", "bytes"),
  ],
  Revocation: [F(1, "allowed", "bool"), F(2, "forfeit_bond", "bool"), F(3, "notice_ms", "u64")],
  Terms: [
    F(1, "currency", "string"), F(2, "issuer_bond", "u64"), F(3, "audience_bond", "u64"), F(4, "escrow", "string"),
    F(5, "revocation", "Revocation"), F(6, "response_window_ms", "u64"),
  ],
  Claim: [
    F(1, "kind", "enum"), F(2, "subject", "string"), F(3, "amount", "u64", { oneof: "value" }),
    F(4, "commitment", "bytes", { oneof: "value" }),
  ],
  Offer: [
    F(1, "gives", "Item", { rep: true }), F(2, "wants", "Item", { rep: true }), F(3, "terms", "Terms"),
    F(4, "exclusive_key", "bytes"), F(5, "claims", "Claim", { rep: true }),
  ],
  Counter: [F(1, "offer", "bytes"), F(2, "proposal", "Offer")],
  Accept: [F(1, "offer", "bytes")],
  Reject: [F(1, "offer", "bytes"), F(2, "reason", "string")],
  Withdraw: [F(1, "offer", "bytes"), F(2, "reason", "string")],
  BondLock: [F(1, "contract", "bytes"), F(2, "party", "string"), F(3, "amount", "u64")],
  Delivery: [F(1, "contract", "bytes"), F(2, "item_index", "u32"), F(3, "artifact_digest", "bytes"), F(4, "uri", "string")],
  Receipt: [F(1, "delivery", "bytes"), F(2, "rating", "u32")],
  BreachClaim: [
    F(1, "contract", "bytes"), F(2, "item_index", "u32"), F(3, "evidence", "bytes", { rep: true }), F(4, "reason", "string"),
  ],
  Revoke: [F(1, "contract", "bytes"), F(2, "reason", "string")],
  Release: [F(1, "contract", "bytes"), F(2, "party", "string"), F(3, "amount", "u64")],
  Forfeit: [
    F(1, "contract", "bytes"), F(2, "party", "string"), F(3, "amount", "u64"), F(4, "beneficiary", "string"),
    F(5, "cause", "bytes"),
  ],
  Ruling: [F(1, "contract", "bytes"), F(2, "claim", "bytes"), F(3, "decision", "enum"), F(4, "evidence", "bytes")],
  Refund: [F(1, "contract", "bytes"), F(2, "party", "string"), F(3, "amount", "u64")],
  Reveal: [F(1, "statement", "bytes"), F(2, "claim_index", "u32"), F(3, "salt", "bytes"), F(4, "amount", "u64")],
  Ack: [F(1, "statement", "bytes")],
  Stamp: [F(1, "statements", "bytes", { rep: true })],
  Deposit: [F(1, "party", "string"), F(2, "amount", "u64"), F(3, "currency", "string"), F(4, "reference", "string")],
  Attestation: [
    F(1, "subject", "string"), F(2, "offer", "bytes"), F(3, "accept", "bytes"), F(4, "outcome", "enum"),
    F(5, "evidence", "bytes", { rep: true }), F(6, "rating", "u32"),
  ],
};
const MSG = {};
for (const [name, fields] of Object.entries(SCHEMA)) {
  const byNum = new Map(fields.map((f) => [f.n, f]));
  MSG[name] = { name, fields, byNum, maxN: Math.max(...fields.map((f) => f.n)) };
}
const WIRE_OF = { u32: 0, u64: 0, bool: 0, enum: 0, string: 2, bytes: 2 };
const wireOf = (t) => (t in WIRE_OF ? WIRE_OF[t] : 2);

// ---------------------------------------------------------------------------------------------
// The decoding profile (SPEC 6.2, 6.2.1): one scan that parses every field and records the first
// canonical-form finding in byte order. Malformed (W1-W5, K1-K7, U1) throws at once; a
// non-canonical finding is kept and reported only if the whole input parses (P1, STM-001).

class Malformed extends Error {
  constructor(rule, detail) {
    super(`${rule}: ${detail}`);
    this.rule = rule;
  }
}

function utf8Valid(buf) {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

class Scanner {
  constructor(bytes, { allowUnknown }) {
    this.b = bytes;
    this.allowUnknown = allowUnknown;
    this.finding = null; // {rule, at, detail}
  }
  note(rule, at, detail) {
    if (this.finding === null || at < this.finding.at) this.finding = { rule, at, detail };
  }
  varint(pos, end, what) {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; ; i++) {
      if (pos + i >= end) throw new Malformed("STM-014", `${what}: truncated varint (W1)`);
      if (i >= 10) throw new Malformed("STM-014", `${what}: varint longer than 10 bytes (W2)`);
      const byte = this.b[pos + i];
      v |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) {
        if (i === 9 && byte > 1) throw new Malformed("STM-014", `${what}: varint >= 2^64 (W2)`);
        return { v, next: pos + i + 1, padded: i > 0 && byte === 0 };
      }
    }
  }
  message(type, start, end) {
    const m = MSG[type];
    const out = {};
    for (const f of m.fields) if (f.rep) out[f.name] = [];
    const oneofSeen = {};
    let prev = null; // {n, known, rep}
    let pos = start;
    while (pos < end) {
      const tagAt = pos;
      const tag = this.varint(pos, end, `${type} tag`);
      if (tag.v >= U32) throw new Malformed("STM-014", `${type}: tag >= 2^32 (W3)`);
      const num = Number(tag.v >> 3n);
      const wt = Number(tag.v & 7n);
      if (num === 0) throw new Malformed("STM-014", `${type}: field number 0 (W3)`);
      if (![0, 1, 2, 5].includes(wt)) throw new Malformed("STM-014", `${type}: wire type ${wt} (W4)`);
      pos = tag.next;
      const f = m.byNum.get(num);
      if (!f && num < m.maxN) throw new Malformed("STM-016", `${type}: field ${num} below the highest defined (U1)`);
      if (!f && !this.allowUnknown) throw new Malformed("ENV-009", `${type}: unknown field ${num}`);
      const known = !!f;
      const rule = known ? "STM-002" : "STM-016";
      if (tag.padded) this.note(rule, tagAt, `${type}.${num}: padded tag (W6)`);
      if (prev) {
        const outOfOrder = num < prev.n || (num === prev.n && known && !f.rep);
        if (outOfOrder) this.note(known && prev.known ? "STM-002" : "STM-016", tagAt, `${type}.${num} after ${prev.n} (K8/U3)`);
      }
      if (known && wireOf(f.type) !== wt) throw new Malformed("STM-015", `${type}.${f.name}: wire type ${wt} (K1)`);
      let value;
      if (wt === 0) {
        const r = this.varint(pos, end, `${type}.${num} value`);
        if (r.padded) this.note(rule, pos, `${type}.${num}: padded value (W6)`);
        pos = r.next;
        value = r.v;
      } else if (wt === 1 || wt === 5) {
        const n = wt === 1 ? 8 : 4;
        if (pos + n > end) throw new Malformed("STM-014", `${type}.${num}: fixed value cut short (W5)`);
        pos += n;
      } else {
        const r = this.varint(pos, end, `${type}.${num} length`);
        if (r.padded) this.note(rule, pos, `${type}.${num}: padded length (W6)`);
        if (BigInt(r.next) + r.v > BigInt(end)) throw new Malformed("STM-014", `${type}.${num}: length past the end (W5)`);
        const s = r.next;
        const e = r.next + Number(r.v);
        pos = e;
        value = [s, e];
      }
      prev = { n: num, known, rep: known && f.rep };
      if (!known) continue;
      // Known field: type checks (K2-K7), presence (K10), decode.
      let v;
      const explicit = !!f.oneof || !(f.type in WIRE_OF);
      switch (f.type) {
        case "u32":
          if (value >= U32) throw new Malformed("STM-015", `${type}.${f.name}: uint32 >= 2^32 (K2)`);
          v = value;
          break;
        case "u64":
          v = value;
          break;
        case "bool":
          if (value > 1n) throw new Malformed("STM-015", `${type}.${f.name}: bool ${value} (K4)`);
          v = value === 1n;
          break;
        case "enum":
          if (value >= 1n << 31n) throw new Malformed("STM-015", `${type}.${f.name}: enum >= 2^31 (K5)`);
          v = value;
          break;
        case "string": {
          const buf = this.b.subarray(value[0], value[1]);
          if (!utf8Valid(buf)) throw new Malformed("STM-015", `${type}.${f.name}: not UTF-8 (K7)`);
          v = buf.toString("utf8");
          break;
        }
        case "bytes":
          v = Buffer.from(this.b.subarray(value[0], value[1]));
          break;
        default:
          v = this.message(f.type, value[0], value[1]);
      }
      const isDefault = v === 0n || v === false || v === "" || (Buffer.isBuffer(v) && v.length === 0);
      if (!explicit && !f.rep && isDefault) this.note("STM-002", tagAt, `${type}.${f.name} at its default (K10)`);
      if (f.oneof) {
        if (oneofSeen[f.oneof] && oneofSeen[f.oneof] !== f.name) this.note("STM-002", tagAt, `${type}: two members of oneof ${f.oneof} (K9)`);
        oneofSeen[f.oneof] = f.name;
        out[`$${f.oneof}`] = f.name;
      }
      if (f.rep) out[f.name].push(v);
      else out[f.name] = v;
    }
    return out;
  }
}

// Parse under the profile. Returns {msg} or {malformed: rule} or {noncanonical: rule}.
function decode(type, bytes, opts) {
  const s = new Scanner(bytes, opts);
  let msg;
  try {
    msg = s.message(type, 0, bytes.length);
  } catch (e) {
    if (e instanceof Malformed) return { malformed: e.rule, detail: e.message };
    throw e;
  }
  if (s.finding) return { noncanonical: s.finding.rule, detail: s.finding.detail, msg };
  return { msg };
}

// Defaults for absent fields, so that later code can read every field.
function get(msg, type, name) {
  if (msg && name in msg) return msg[name];
  const f = MSG[type].fields.find((x) => x.name === name);
  if (f.rep) return [];
  return { u32: 0n, u64: 0n, enum: 0n, bool: false, string: "", bytes: Buffer.alloc(0) }[f.type] ?? null;
}
// A view of a decoded message that fills in proto3 defaults.
function view(msg, type) {
  if (msg === null || msg === undefined) return null;
  return new Proxy(msg, {
    get(t, name) {
      if (typeof name !== "string" || name.startsWith("$")) return t[name];
      const f = MSG[type].byNum && MSG[type].fields.find((x) => x.name === name);
      if (!f) return t[name];
      const v = get(t, type, name);
      if (!(f.type in WIRE_OF)) return f.rep ? v.map((x) => view(x, f.type)) : v === null ? null : view(v, f.type);
      return v;
    },
    has(t, name) {
      return name in t;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// edwards25519 (RFC 8032 5.1) in BigInt: enough to validate keys (SPEC 3.2) and to test R for small
// order (SPEC 5.3 step 3). The signature equation itself is node:crypto's (OpenSSL's, cofactorless).

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const mod = (a) => ((a % P) + P) % P;
const pow = (b, e) => {
  let r = 1n;
  b = mod(b);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
};
const inv = (a) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);
const leInt = (b) => {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
};

// Returns {y, x} or a reason: "noncanonical-y", "not-on-curve", "x0-sign".
function decodePoint(A, { reduceY = false } = {}) {
  let y = leInt(A) & ((1n << 255n) - 1n);
  const sign = (A[31] >> 7) & 1;
  if (y >= P) {
    if (!reduceY) return { err: "noncanonical-y" };
    y -= P;
  }
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) {
    // root found
  } else if (vx2 === mod(-u)) {
    x = mod(x * SQRT_M1);
  } else return { err: "not-on-curve" };
  if (x === 0n && sign === 1) return { err: "x0-sign", x, y };
  if (Number(x & 1n) !== sign) x = mod(-x);
  return { x, y };
}
// Extended coordinates; only doubling is needed for [8]P.
function isSmallOrder(x, y) {
  let X = x, Y = y, Z = 1n, T = mod(x * y);
  for (let i = 0; i < 3; i++) {
    const A = mod(X * X), B = mod(Y * Y), C = mod(2n * Z * Z), Dd = mod(-A);
    const E = mod((X + Y) * (X + Y) - A - B), G = mod(Dd + B), Fv = mod(G - C), H = mod(Dd - B);
    X = mod(E * Fv); Y = mod(G * H); T = mod(E * H); Z = mod(Fv * G);
  }
  return X === 0n && Y === Z;
}

// ---------------------------------------------------------------------------------------------
// did:key (SPEC 3.1, 3.2)

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function b58decode(s) {
  let v = 0n;
  for (const ch of s) {
    const d = B58.indexOf(ch);
    if (d < 0) return null;
    v = v * 58n + BigInt(d);
  }
  const bytes = [];
  while (v > 0n) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  let zeros = 0;
  while (zeros < s.length && s[zeros] === "1") zeros++;
  return Buffer.from([...new Array(zeros).fill(0), ...bytes]);
}
function b58encode(buf) {
  let v = leInt(Buffer.from(buf).reverse());
  let s = "";
  while (v > 0n) {
    s = B58[Number(v % 58n)] + s;
    v /= 58n;
  }
  for (const byte of buf) {
    if (byte !== 0) break;
    s = "1" + s;
  }
  return s;
}

const keyCache = new Map();
// Returns the 32-byte key, or throws Reject with the KEY_* code of the first failed step.
function validateDidKey(did, req) {
  if (keyCache.has(did)) return keyCache.get(did);
  const bad = (code, why) => fail(code, req, `${JSON.stringify(did).slice(0, 70)}: ${why}`);
  if (typeof did !== "string" || !did.startsWith("did:key:z")) bad("KEY_INVALID", "not did:key:z…");
  const raw = b58decode(did.slice(9));
  if (!raw || raw.length !== 34 || raw[0] !== 0xed || raw[1] !== 0x01) bad("KEY_INVALID", "not 0xed01 || 32 bytes");
  if (b58encode(raw) !== did.slice(9)) bad("KEY_INVALID", "base58 not canonical");
  const A = raw.subarray(2);
  const p = decodePoint(A);
  if (p.err === "noncanonical-y") bad("KEY_NONCANONICAL", "y >= p");
  if (p.err === "not-on-curve") bad("KEY_INVALID", "not on the curve");
  if (p.err === "x0-sign") bad("KEY_NONCANONICAL", "x = 0 with the sign bit set");
  if (isSmallOrder(p.x, p.y)) bad("KEY_SMALL_ORDER", "[8]A = identity");
  keyCache.set(did, A);
  return A;
}
const isValidDidKey = (did) => {
  try {
    validateDidKey(did, "");
    return true;
  } catch (e) {
    if (e instanceof Reject) return false;
    throw e;
  }
};

// ---------------------------------------------------------------------------------------------
// Envelope, PAE, digest (SPEC 5, 6.3)

const pae = (type, body) => {
  const t = Buffer.from(type, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body]);
};
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function ed25519Verify(A, msg, sig) {
  const R = sig.subarray(0, 32);
  const r = decodePoint(R, { reduceY: true });
  if (!r.err || r.err === "x0-sign") {
    const x = r.err ? 0n : r.x;
    if (isSmallOrder(x, r.y)) return false;
  }
  return edVerify(null, msg, keyObject(A), sig);
}
// Each key's KeyObject, made once a run: a run's vectors sign with a few dozen keys, thousands of times.
const KEY_OBJECTS = new Map();
function keyObject(A) {
  const hex = A.toString("hex");
  let key = KEY_OBJECTS.get(hex);
  if (!key) KEY_OBJECTS.set(hex, (key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, A]), format: "der", type: "spki" })));
  return key;
}

const negotiationId = (issuer, nonce) =>
  sha256(Buffer.from("a2a-coop/v1/negotiation\0"), Buffer.from(issuer, "utf8"), Buffer.from([0]), nonce).subarray(0, 16);
const commitment = (salt, amount) => {
  const a = Buffer.alloc(8);
  a.writeBigUInt64BE(amount);
  return sha256(Buffer.from("a2a-coop/v1/commitment\0"), salt, a);
};

// What each statement naming another names, and of which kinds (KEY-009's witnessing escrow, ATT-025's links)
const PROPOSALS = ["offer", "counter"];
const NAMED_LINKS = {
  accept: ["offer", PROPOSALS], reject: ["offer", PROPOSALS], withdraw: ["offer", PROPOSALS],
  delivery: ["contract", ["accept"]], breach_claim: ["contract", ["accept"]], revoke: ["contract", ["accept"]],
  receipt: ["delivery", ["delivery"]],
};
const NEGOTIATION_BODIES = new Set([
  "offer", "counter", "accept", "reject", "withdraw", "bond_lock", "delivery", "receipt", "breach_claim",
  "revoke", "release", "forfeit", "refund", "ruling",
]);
const PRINCIPAL_BODIES = new Set(["mandate", "key_rotation", "key_revocation", "checkpoint"]);
const BODY_TYPE = Object.fromEntries(MSG.Statement.fields.filter((f) => f.oneof).map((f) => [f.name, f.type]));

// Steps 1-20 of SPEC 11.1. Returns {st, body, bodyName, digest, env}.
// Each signature that verified, by its key, its bytes and the digest of what it signs (SHA-256: another
// message with that digest is a collision): a run's vectors each carry their own copies of the same
// context envelopes, and checking the same signature again was half of a run's time.
const VERIFIED = new Set();
export const WORK = { stateless: 0 }; // steps 1-20 run, counted (a re-derive must not run them again)
export function verifyStateless(envBytes) {
  WORK.stateless++;
  // 1. size
  if (envBytes.length > MAX_ENVELOPE) fail("ENVELOPE_TOO_LARGE", "ENV-008", `${envBytes.length} bytes`);
  // 2. envelope
  const e = decode("Envelope", envBytes, { allowUnknown: false });
  if (e.malformed || e.noncanonical) fail("MALFORMED_ENVELOPE", "ENV-009", e.detail);
  const env = view(e.msg, "Envelope");
  if (env.signatures.length !== 1) fail("MALFORMED_ENVELOPE", "ENV-004", `${env.signatures.length} signatures`);
  if (env.payload.length === 0) fail("MALFORMED_ENVELOPE", "ENV-004", "empty payload");
  // 3. payload type
  if (env.payload_type !== PAYLOAD_TYPE) fail("UNSUPPORTED_PAYLOAD_TYPE", "ENV-003", env.payload_type);
  const sig = env.signatures[0];
  // 4. signing key
  const A = validateDidKey(sig.keyid, "KEY-001");
  // 5-7. signature
  if (sig.sig.length !== 64) fail("SIGNATURE_INVALID", "ENV-006", `${sig.sig.length}-byte signature`);
  if (leInt(sig.sig.subarray(32)) >= L) fail("SIGNATURE_NONCANONICAL", "ENV-007", "S >= L");
  const signed = pae(env.payload_type, env.payload);
  const digest = sha256(signed);
  const checked = `${sig.keyid} ${sig.sig.toString("base64")} ${digest.toString("base64")}`;
  if (!VERIFIED.has(checked)) {
    if (!ed25519Verify(A, signed, sig.sig)) fail("SIGNATURE_INVALID", "ENV-006", "does not verify");
    VERIFIED.add(checked);
  }
  // 8-9. statement parse, canonical form
  const s = decode("Statement", env.payload, { allowUnknown: true });
  if (s.malformed) fail("MALFORMED_STATEMENT", s.malformed, s.detail);
  if (s.noncanonical) fail("NONCANONICAL_ENCODING", s.noncanonical, s.detail);
  const st = view(s.msg, "Statement");
  const h = st.header ?? view({}, "Header");
  // 10. version
  if (h.version !== 1n) fail("UNSUPPORTED_VERSION", "STM-003", `version ${h.version}`);
  // 11. issuer
  if (h.issuer !== sig.keyid) fail("KEYID_MISMATCH", "STM-004", "issuer is not the keyid");
  // 12. audience form
  if (h.audience !== "") validateDidKey(h.audience, "STM-005");
  // 13. seq and prev
  if ((h.seq === 0n) !== (h.prev.length === 0)) fail("HEADER_INVALID", "STM-006", "seq 0 iff prev empty");
  if (h.seq > 0n && h.prev.length !== 32) fail("HEADER_INVALID", "STM-006", "prev not 32 bytes");
  // 14. nonce
  if (h.nonce.length !== 16) fail("HEADER_INVALID", "STM-007", "nonce not 16 bytes");
  // 15. times (STM-008), then integers (STM-013)
  if (h.issued_at_ms === 0n) fail("HEADER_INVALID", "STM-008", "issued_at_ms 0");
  if (h.expires_at_ms <= h.issued_at_ms) fail("HEADER_INVALID", "STM-008", "expires_at_ms <= issued_at_ms");
  if (h.not_before_ms !== 0n && h.not_before_ms >= h.expires_at_ms) fail("HEADER_INVALID", "STM-008", "not_before_ms >= expires_at_ms");
  for (const k of ["seq", "issued_at_ms", "not_before_ms", "expires_at_ms"])
    if (h[k] > MAX_INT) fail("HEADER_INVALID", "STM-013", `${k} > 2^53-1`);
  // 16. body present
  const bodyName = st.$body;
  if (!bodyName) fail("BODY_MISSING", "STM-010", "no known body");
  const body = st[bodyName];
  // 17. negotiation_id
  const nid = h.negotiation_id;
  if (NEGOTIATION_BODIES.has(bodyName) ? nid.length !== 16 : nid.length !== 0)
    fail("HEADER_INVALID", "STM-009", `negotiation_id of ${nid.length} bytes for ${bodyName}`);
  if (bodyName === "offer") {
    if (!negotiationId(h.issuer, h.nonce).equals(nid)) fail("HEADER_INVALID", "NEG-013", "negotiation_id not derived");
  }
  // 18. refs
  if (h.refs.length > 64 || h.refs.some((r) => r.length !== 32)) fail("HEADER_INVALID", "STM-011", "refs");
  // 19. mandate field
  if (PRINCIPAL_BODIES.has(bodyName)) {
    if (h.mandate.length !== 0 && h.mandate.length !== 32) fail("HEADER_INVALID", "MND-001", "mandate not empty or 32 bytes");
  } else if (h.mandate.length !== 32) fail("HEADER_INVALID", "MND-001", "mandate not 32 bytes");
  // 20. body rules
  checkBody(bodyName, body, h);
  return { env, st, h, body, bodyName, digest, payloadType: env.payload_type };
}

// Steps 1-20 of an envelope taken, kept with its bytes (a pure function of them): reweigh feeds a fresh view
// the very envelopes the view took, and checking their signatures and keys again was two thirds of its time.
// A record is a copy ({...r}) per view; nothing mutates r.
const STATELESS = new WeakMap();
function statelessOf(envBytes) {
  let r = STATELESS.get(envBytes);
  if (r === undefined) {
    r = verifyStateless(envBytes);
    STATELESS.set(envBytes, r);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Body rules (SPEC 7, BDY-001..BDY-017, context-free parts)

const CATEGORY = /^[a-z0-9][a-z0-9.-]{0,63}$/;
const CURRENCY = /^[a-z0-9][a-z0-9.-]{0,31}$/;
function bodyRule(ok, req, detail) {
  if (!ok) fail("BODY_INVALID", req, detail);
}
const is32 = (b) => b.length === 32;
const int53 = (v, what) => bodyRule(v <= MAX_INT, "BDY-015", `${what} > 2^53-1`);

function checkItem(it) {
  bodyRule(it.kind !== 0n, "BDY-002", "item kind unspecified");
  bodyRule(CATEGORY.test(it.category), "BDY-002", "item category");
  bodyRule(it.quantity >= 1n, "BDY-002", "item quantity");
  bodyRule(it.deadline_ms > 0n, "BDY-002", "item deadline");
  bodyRule(it.spec_digest.length === 0 || is32(it.spec_digest), "BDY-002", "item spec_digest");
  int53(it.quantity, "quantity");
  int53(it.value, "value");
  int53(it.deadline_ms, "deadline_ms");
}
function checkOffer(o) {
  bodyRule(o.gives.length >= 1 && o.gives.length <= 32, "BDY-001", "gives count");
  bodyRule(o.wants.length >= 1 && o.wants.length <= 32, "BDY-001", "wants count");
  bodyRule(o.terms !== null, "BDY-001", "no terms");
  for (const it of [...o.gives, ...o.wants]) checkItem(it);
  const t = o.terms;
  const r = t.revocation ?? view({}, "Revocation");
  bodyRule(CURRENCY.test(t.currency), "BDY-003", "currency");
  if (t.escrow !== "") bodyRule(isValidDidKey(t.escrow), "BDY-003", "escrow not a did:key");
  if (t.issuer_bond > 0n || t.audience_bond > 0n || r.allowed) bodyRule(t.escrow !== "", "BDY-003", "escrow required");
  if (r.forfeit_bond || r.notice_ms > 0n) bodyRule(r.allowed, "BDY-003", "revocation terms without allowed");
  bodyRule(t.response_window_ms <= CLAIM_WINDOW, "BDY-003", "response window");
  int53(t.issuer_bond, "issuer_bond");
  int53(t.audience_bond, "audience_bond");
  int53(r.notice_ms, "notice_ms");
  bodyRule(o.exclusive_key.length <= 32, "BDY-005", "exclusive_key length");
  bodyRule(o.claims.length <= 16, "BDY-006", "claims count");
  for (const c of o.claims) {
    bodyRule(c.kind !== 0n, "BDY-006", "claim kind");
    bodyRule(c.subject !== "", "BDY-006", "claim subject");
    bodyRule(c.$value !== undefined, "BDY-006", "claim without amount or commitment");
    if (c.$value === "commitment") bodyRule(is32(c.commitment), "BDY-006", "commitment length");
    if (c.$value === "amount") int53(c.amount, "claim amount");
  }
}
function checkMoney(b, name) {
  bodyRule(is32(b.contract), "BDY-004", "contract");
  bodyRule(isValidDidKey(b.party), "BDY-008", "party");
  bodyRule(b.amount > 0n, "BDY-008", "amount");
  int53(b.amount, "amount");
  if (name === "forfeit") {
    bodyRule(isValidDidKey(b.beneficiary), "BDY-008", "beneficiary");
    bodyRule(is32(b.cause), "BDY-004", "cause");
  }
}

function checkBody(name, b, h) {
  switch (name) {
    case "mandate":
      bodyRule(isValidDidKey(b.agent), "BDY-010", "agent");
      bodyRule(b.valid_until_ms > b.valid_from_ms, "BDY-010", "validity");
      bodyRule(CURRENCY.test(b.currency), "BDY-010", "currency");
      bodyRule(b.min_per_deal <= b.max_per_deal, "BDY-010", "min > max");
      if (b.budget_per_period > 0n) bodyRule(b.period_ms > 0n, "BDY-010", "period_ms");
      for (const k of ["valid_from_ms", "valid_until_ms", "max_per_deal", "min_per_deal", "budget_per_period", "period_ms", "max_outstanding", "execution_window_end_ms"])
        int53(b[k], k);
      if (b.succeeds !== "") {
        bodyRule(isValidDidKey(b.succeeds), "ESC-022", "succeeds not a did:key");
        bodyRule(b.succeeds !== b.agent, "ESC-022", "succeeds names the agent itself");
      }
      return;
    case "key_rotation":
      bodyRule(isValidDidKey(b.new_key), "BDY-012", "new_key");
      bodyRule(b.new_key !== h.issuer, "BDY-012", "new_key is the issuer");
      return;
    case "key_revocation":
      bodyRule(isValidDidKey(b.key), "BDY-012", "key");
      int53(b.effective_ms, "effective_ms");
      return;
    case "checkpoint":
      bodyRule(h.seq === 0n ? b.log_root.length === 0 : is32(b.log_root), "BDY-012", "log_root length");
      return;
    case "offer":
      return checkOffer(b);
    case "counter":
      bodyRule(is32(b.offer), "BDY-004", "counter.offer");
      bodyRule(b.proposal !== null, "BDY-001", "no proposal");
      return checkOffer(b.proposal);
    case "accept":
    case "reject":
    case "withdraw":
      return bodyRule(is32(b.offer), "BDY-004", `${name}.offer`);
    case "bond_lock":
    case "release":
    case "forfeit":
    case "refund":
      return checkMoney(b, name);
    case "delivery":
      bodyRule(is32(b.contract), "BDY-004", "contract");
      return bodyRule(b.artifact_digest.length === 0 || is32(b.artifact_digest), "BDY-004", "artifact_digest");
    case "receipt":
      bodyRule(is32(b.delivery), "BDY-004", "delivery");
      return bodyRule(b.rating <= 100n, "BDY-009", "rating");
    case "breach_claim":
      bodyRule(is32(b.contract), "BDY-004", "contract");
      return bodyRule(b.evidence.every(is32), "BDY-004", "evidence");
    case "revoke":
      return bodyRule(is32(b.contract), "BDY-004", "contract");
    case "reveal":
      bodyRule(is32(b.statement), "BDY-004", "statement");
      bodyRule(is32(b.salt), "BDY-007", "salt");
      return int53(b.amount, "reveal amount");
    case "ruling": {
      bodyRule(is32(b.contract), "BDY-004", "contract");
      if (b.claim.length) bodyRule(is32(b.claim), "BDY-004", "claim");
      if (b.evidence.length) bodyRule(is32(b.evidence), "BDY-004", "evidence");
      const d = b.decision;
      bodyRule(d === 1n || d === 2n || d === 3n, "BDY-016", "decision");
      if (d === 1n) bodyRule(b.claim.length > 0 && b.evidence.length === 0, "BDY-016", "uphold");
      if (d === 2n) bodyRule(b.claim.length > 0 && b.evidence.length > 0, "BDY-016", "dismiss");
      if (d === 3n) bodyRule(b.claim.length === 0 && b.evidence.length === 0, "BDY-016", "lapse");
      return;
    }
    case "attestation":
      bodyRule(isValidDidKey(b.subject), "BDY-011", "subject");
      bodyRule(is32(b.offer) && is32(b.accept), "BDY-011", "offer/accept");
      bodyRule(b.outcome !== 0n, "BDY-011", "outcome");
      bodyRule(h.audience === "", "BDY-011", "not public");
      bodyRule(b.evidence.every(is32), "BDY-004", "evidence");
      return bodyRule(b.rating <= 100n, "BDY-009", "rating");
    case "ack":
      bodyRule(is32(b.statement), "BDY-013", "statement");
      return bodyRule(h.audience !== "", "BDY-013", "ack without audience");
    case "deposit":
      bodyRule(isValidDidKey(b.party), "BDY-014", "party");
      bodyRule(b.amount > 0n, "BDY-014", "amount");
      bodyRule(CURRENCY.test(b.currency), "BDY-014", "currency");
      return int53(b.amount, "amount");
    case "stamp":
      bodyRule(b.statements.length >= 1 && b.statements.length <= 256, "BDY-017", "statements count");
      return bodyRule(b.statements.every(is32), "BDY-004", "statements");
    default:
      throw new Error(`unhandled body ${name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Contextual steps (SPEC 11.2) this verifier implements: 23-24 (mandate binding and content), 25
// (freshness), 26 (replay), 27 (chain). Steps 22, 28-31 are not implemented (see LAYERS).

function merkleRoot(ds) {
  if (ds.length === 1) return sha256(Buffer.from([0]), ds[0]);
  let k = 1;
  while (k * 2 < ds.length) k *= 2;
  return sha256(Buffer.from([1]), merkleRoot(ds.slice(0, k)), merkleRoot(ds.slice(k)));
}

// Stamps of one escrow, earliest first: issued_at_ms, then the escrow's seq, then the place in the Stamp.
// Stamps in order: by time; in one millisecond, two keys' (sibling successors', ESC-022 (e)) by the signer's did
// in byte order -- two chains' seqs order nothing between them (finding F41) --, one key's by seq, then place.
const cmpStamp = (a, b) =>
  a.t !== b.t
    ? a.t < b.t ? -1 : 1
    : a.escrow !== undefined && b.escrow !== undefined && a.escrow !== b.escrow
      ? a.escrow < b.escrow ? -1 : 1
      : a.seq !== b.seq ? (a.seq < b.seq ? -1 : 1) : a.pos - b.pos;

function offerValue(o, side) {
  const items = side === "issuer" ? o.gives : o.wants;
  const bond = side === "issuer" ? o.terms.issuer_bond : o.terms.audience_bond;
  return items.reduce((a, it) => a + it.value, 0n) + bond;
}

// The transition table of SPEC 8.4 (rows after the opening Offer).
const ROWS = `
PROPOSED COUNTER COUNTERED|PROPOSED ACCEPT ACCEPTED|PROPOSED REJECT REJECTED|PROPOSED WITHDRAW WITHDRAWN|PROPOSED EXPIRE EXPIRED
COUNTERED COUNTER COUNTERED|COUNTERED ACCEPT ACCEPTED|COUNTERED REJECT REJECTED|COUNTERED WITHDRAW WITHDRAWN|COUNTERED EXPIRE EXPIRED
ACCEPTED BOND_LOCK ACCEPTED|ACCEPTED BOND_COMPLETE BONDED|ACCEPTED DELIVERY PERFORMING|ACCEPTED BREACH_CLAIM DISPUTED|ACCEPTED REVOKE REVOKED
ACCEPTED LAPSE EXPIRED|ACCEPTED RELEASE ACCEPTED|ACCEPTED FORFEIT ACCEPTED|ACCEPTED REFUND ACCEPTED
BONDED DELIVERY PERFORMING|BONDED BREACH_CLAIM DISPUTED|BONDED REVOKE REVOKED|BONDED LAPSE EXPIRED|BONDED RELEASE BONDED|BONDED FORFEIT BONDED|BONDED REFUND BONDED
PERFORMING DELIVERY PERFORMING|PERFORMING RECEIPT PERFORMING|PERFORMING RECEIPT_COMPLETE FULFILLED|PERFORMING BREACH_CLAIM DISPUTED
PERFORMING REVOKE REVOKED|PERFORMING UPHOLD BREACHED|PERFORMING LAPSE EXPIRED|PERFORMING RELEASE PERFORMING|PERFORMING FORFEIT PERFORMING|PERFORMING REFUND PERFORMING
DISPUTED BOND_LOCK DISPUTED|DISPUTED BOND_COMPLETE DISPUTED|DISPUTED DELIVERY DISPUTED|DISPUTED RECEIPT DISPUTED|DISPUTED RECEIPT_COMPLETE DISPUTED
DISPUTED RELEASE DISPUTED|DISPUTED FORFEIT DISPUTED|DISPUTED REFUND DISPUTED|DISPUTED BREACH_CLAIM DISPUTED|DISPUTED DISMISS_PENDING DISPUTED
DISPUTED REVOKE REVOKED|DISPUTED UPHOLD BREACHED|DISPUTED DISMISS PERFORMING|DISPUTED DISMISS_COMPLETE FULFILLED|DISPUTED LAPSE EXPIRED
FULFILLED DELIVERY FULFILLED|FULFILLED RECEIPT FULFILLED|FULFILLED RECEIPT_COMPLETE FULFILLED|FULFILLED RELEASE FULFILLED|FULFILLED FORFEIT FULFILLED
FULFILLED REFUND FULFILLED|FULFILLED BREACH_CLAIM DISPUTED|FULFILLED REVOKE REVOKED|FULFILLED UPHOLD BREACHED|FULFILLED LAPSE EXPIRED
BREACHED BOND_LOCK BREACHED|BREACHED BOND_COMPLETE BREACHED|BREACHED DELIVERY BREACHED|BREACHED RECEIPT BREACHED|BREACHED RECEIPT_COMPLETE BREACHED
BREACHED RELEASE BREACHED|BREACHED FORFEIT BREACHED|BREACHED REFUND BREACHED|BREACHED BREACH_CLAIM BREACHED|BREACHED REVOKE BREACHED|BREACHED UPHOLD BREACHED
BREACHED DISMISS BREACHED|BREACHED DISMISS_PENDING BREACHED|BREACHED DISMISS_COMPLETE BREACHED|BREACHED LAPSE BREACHED
REVOKED BOND_LOCK REVOKED|REVOKED BOND_COMPLETE REVOKED|REVOKED DELIVERY REVOKED|REVOKED RECEIPT REVOKED|REVOKED RECEIPT_COMPLETE REVOKED
REVOKED RELEASE REVOKED|REVOKED FORFEIT REVOKED|REVOKED REFUND REVOKED|REVOKED BREACH_CLAIM REVOKED|REVOKED REVOKE REVOKED|REVOKED DISMISS REVOKED
REVOKED DISMISS_PENDING REVOKED|REVOKED DISMISS_COMPLETE REVOKED|REVOKED UPHOLD BREACHED|REVOKED LAPSE REVOKED
EXPIRED BOND_LOCK EXPIRED|EXPIRED BOND_COMPLETE EXPIRED|EXPIRED DELIVERY EXPIRED|EXPIRED RECEIPT EXPIRED|EXPIRED RECEIPT_COMPLETE EXPIRED
EXPIRED RELEASE EXPIRED|EXPIRED FORFEIT EXPIRED|EXPIRED REFUND EXPIRED|EXPIRED BREACH_CLAIM EXPIRED|EXPIRED REVOKE REVOKED|EXPIRED UPHOLD BREACHED
EXPIRED DISMISS EXPIRED|EXPIRED DISMISS_PENDING EXPIRED|EXPIRED DISMISS_COMPLETE EXPIRED|EXPIRED LAPSE EXPIRED`;
const TABLE = new Map();
for (const row of ROWS.trim().split(/[|\n]/)) {
  const [from, ev, to] = row.trim().split(" ");
  TABLE.set(`${from} ${ev}`, to);
}
const ENDED = new Set(["FULFILLED", "BREACHED", "REVOKED", "EXPIRED", "REJECTED", "WITHDRAWN"]);
// SPEC 4.5, 8.1: a contract is live -- holds its exclusive_key (NEG-009), counts toward exposure
// (MND-010) -- from its Accept until it is finished: the statements held put it in an ended state, or show every
// obligation of both sides receipted (a claim stamped later moves FULFILLED to DISPUTED, not back). The
// ending is dated: it frees the contract only for a statement it is before (contractLiveFor).
//
// finishedAt(n, party): [time, seq] or null -- over the ways the contract finishes (every obligation
// receipted: the Accept, each Receipt and the Delivery it names; a Ruling UPHOLD or LAPSE; an effective
// Revoke and its earliest Stamp), the earliest of the latest statement each needs; seq is the highest seq
// among party's own statements at that time (-1 if none).
function finishedAt(n, party) {
  const c = n.contract;
  if (!c) return null;
  const place = (rec) => ({ t: rec.h.issued_at_ms, issuer: rec.h.issuer, seq: rec.h.seq });
  const latest = (places) => {
    const at = places.reduce((a, p) => (p.t > a ? p.t : a), places[0].t);
    let seq = -1n;
    for (const p of places) if (p.t === at && p.issuer === party && p.seq > seq) seq = p.seq;
    return [at, seq];
  };
  let best = null;
  const consider = (m) => {
    if (best === null || m[0] < best[0] || (m[0] === best[0] && m[1] < best[1])) best = m;
  };
  if (c.receipted.size === c.totalItems()) {
    const places = [place(c.acceptRec)];
    for (const { r, d } of c.receiptOf.values()) places.push(place(r), place(d));
    consider(latest(places));
  }
  for (const r of c.endings) consider(latest([place(r)]));
  for (const rv of c.revokes.values())
    if (rv.effectiveAt !== null) consider(latest([place(rv.rec), { t: rv.effectiveAt, issuer: c.escrow, seq: -1n }]));
  return best;
}
// SPEC 4.5: statement a is before rec -- issued earlier, in its ms by another key, or lower in rec's chain.
function isBefore(a, rec) {
  const t = rec.h.issued_at_ms;
  const at = a.h.issued_at_ms;
  return at < t || (at === t && (a.h.issuer !== rec.h.issuer || a.h.seq < rec.h.seq));
}
// Live for the statement rec: a contract, not finished before rec's (issued_at_ms, seq).
function contractLiveFor(n, rec) {
  if (n.contract === null) return false;
  const f = finishedAt(n, rec.h.issuer);
  if (f === null) return true;
  const t = rec.h.issued_at_ms;
  return !(f[0] < t || (f[0] === t && f[1] < rec.h.seq));
}

// Step 29's sums, bounded per statement. Each offer and contract of SPEC 4.5 counts for the statements of a span
// of time -- an offer from its issue to its answer or expiry, a contract from its Accept to its ending,
// displacement or claim window's end -- and, in the ms where the span starts or ends, by the order of the two
// statements in it (isBefore). So a sum is a prefix sum over the spans' ends plus the few records whose span
// starts or ends in the statement's own ms, each asked -- not a pass over every record held (O(N) a statement,
// O(N^2) over a view's life).
//
// SumTree: values keyed (key, id), summed over keys <= a key in O(log n): a treap, each node holding its
// subtree's sum; priorities from a fixed xorshift, so every run builds the same shape.
class SumTree {
  constructor() {
    this.root = null;
    this.seed = 0x2545f491;
  }
  add(key, id, value) {
    this.seed ^= this.seed << 13;
    this.seed ^= this.seed >>> 17;
    this.seed ^= this.seed << 5;
    const node = { key, id, value, sum: value, pri: this.seed, l: null, r: null };
    const [a, b] = treapSplit(this.root, key, id);
    this.root = treapMerge(treapMerge(a, node), b);
  }
  remove(key, id) {
    const [a, b] = treapSplit(this.root, key, id);
    this.root = treapMerge(a, treapSplit(b, key, id + 1)[1]);
  }
  upTo(key) {
    let s = 0n;
    for (let x = this.root; x; ) {
      if (x.key <= key) {
        s += (x.l ? x.l.sum : 0n) + x.value;
        x = x.r;
      } else x = x.l;
    }
    return s;
  }
}
const treapSum = (x) => {
  x.sum = (x.l ? x.l.sum : 0n) + x.value + (x.r ? x.r.sum : 0n);
  return x;
};
// [the nodes before (key, id), the rest]
function treapSplit(x, key, id) {
  if (!x) return [null, null];
  if (x.key < key || (x.key === key && x.id < id)) {
    const [a, b] = treapSplit(x.r, key, id);
    x.r = a;
    return [treapSum(x), b];
  }
  const [a, b] = treapSplit(x.l, key, id);
  x.l = b;
  return [a, treapSum(x)];
}
function treapMerge(a, b) {
  if (!a || !b) return a ?? b;
  if (a.pri > b.pri) {
    a.r = treapMerge(a.r, b);
    return treapSum(a);
  }
  b.l = treapMerge(a, b.l);
  return treapSum(b);
}
// Spans: entries {id, lo, hi, value, counts}, each counting for a statement at t when lo < t < hi (hi null: no
// end), for none outside [lo, hi], and at t = lo or t = hi as counts(rec) says. sum(rec): the tree's sum at t
// (+value keyed 2lo + 1, -value keyed 2hi: counted when lo < t, hi <= t) plus the entries at t, each asked.
export const EXPOSURE = { audit: false, audits: 0 }; // audit: ExposureSums.audit at every check (tests)
const spanEnds = (e) => (e.hi === null || e.hi === e.lo ? [e.lo] : [e.lo, e.hi]);
class Spans {
  constructor() {
    this.tree = new SumTree();
    this.at = new Map(); // issued_at_ms -> the entries starting or ending then
  }
  add(e) {
    if (e.hi === null || e.lo < e.hi) {
      this.tree.add(2n * e.lo + 1n, e.id, e.value);
      if (e.hi !== null) this.tree.add(2n * e.hi, e.id, -e.value);
    }
    for (const t of spanEnds(e)) {
      const s = this.at.get(t);
      if (s) s.add(e);
      else this.at.set(t, new Set([e]));
    }
  }
  remove(e) {
    if (e.hi === null || e.lo < e.hi) {
      this.tree.remove(2n * e.lo + 1n, e.id);
      if (e.hi !== null) this.tree.remove(2n * e.hi, e.id);
    }
    for (const t of spanEnds(e)) {
      const s = this.at.get(t);
      s.delete(e);
      if (!s.size) this.at.delete(t);
    }
  }
  sum(rec) {
    let s = this.tree.upTo(2n * rec.h.issued_at_ms);
    for (const e of this.at.get(rec.h.issued_at_ms) ?? []) if (e.counts(rec)) s += e.value;
    return s;
  }
  // the same sum, every entry asked (ExposureSums.audit)
  asked(rec) {
    let s = 0n;
    for (const e of new Set([...this.at.values()].flatMap((x) => [...x]))) if (e.counts(rec)) s += e.value;
    return s;
  }
}
const floorDiv = (a, b) => (a >= 0n || a % b === 0n ? a / b : a / b - 1n);
// Per Mandate: its agent's offers and open contracts (toward outstanding, and every offer counted charges the
// period of the statement's t), the contracts formed in each period, and the offers living into each period
// from an earlier one (charged to a later period a statement charges).
class MandateSums {
  constructor(m) {
    this.m = m;
    this.offers = new Spans();
    this.contracts = new Spans();
    this.formed = new Map(); // period -> Spans
    this.later = new Map(); // period -> Spans
  }
  // SPEC 4.5: period k is [valid_from_ms + k·period_ms, valid_from_ms + (k+1)·period_ms); period_ms 0 makes
  // the validity one period -- null for a time outside it
  periodOf(x) {
    const { period_ms: P, valid_from_ms: from, valid_until_ms: until } = this.m;
    if (P !== 0n) return floorDiv(x - from, P);
    return from <= x && x < until ? 0n : null;
  }
  // where entry e of `kind` counts: [spans] (each created when first needed)
  placesOf(kind, e) {
    const of = (map, k) => map.get(k) ?? map.set(k, new Spans()).get(k);
    if (kind === "open") return [this.contracts];
    if (kind === "formed") {
      const k = this.periodOf(e.lo);
      return k === null ? [] : [of(this.formed, k)];
    }
    const out = [this.offers];
    if (this.m.period_ms !== 0n) for (let k = this.periodOf(e.lo) + 1n; k <= this.periodOf(e.expires); k++) out.push(of(this.later, k));
    return out;
  }
  sumIn(map, k, rec, how) {
    const s = map.get(k);
    return s ? s[how](rec) : 0n;
  }
}
// The sums of every Mandate, kept by negotiation: what a negotiation's records add is counted again only when
// it moved (touch: a statement of it applied or re-derived, a Stamp putting its Revoke in effect) -- and, for a
// contract a held revocation could make bind its offerer to nothing (bindsOffererToNothing), when a revocation,
// rotation or binding came (keysMoved).
class ExposureSums {
  constructor() {
    this.byMandate = new Map(); // mandate hex -> MandateSums
    this.added = new Map(); // negotiation id -> [[spans, entry]] it added
    this.moved = new Set(); // negotiation ids to count again
    this.disownable = new Set(); // negotiation ids with a contract of an offer naming no escrow
    this.serial = 0;
  }
  touch(id) {
    this.moved.add(id);
  }
  keysMoved() {
    for (const id of this.disownable) this.moved.add(id);
  }
  of(v, mhex) {
    this.countMoved(v);
    return this.mandate(v, mhex);
  }
  countMoved(v) {
    for (const id of this.moved) this.countAgain(v, id);
    this.moved.clear();
  }
  mandate(v, mhex) {
    let x = this.byMandate.get(mhex);
    if (!x) this.byMandate.set(mhex, (x = new MandateSums(v.byDigest.get(mhex).body)));
    return x;
  }
  countAgain(v, id) {
    for (const [spans, e] of this.added.get(id) ?? []) spans.remove(e);
    const added = [];
    const { entries, disownable } = v.exposureSpans(id);
    for (const { kind, mhex, ...e } of entries) {
      if (e.value === 0n) continue; // adds nothing to any sum (and a zero offer may live over many periods)
      e.id = this.serial++;
      for (const spans of this.mandate(v, mhex).placesOf(kind, e)) {
        spans.add(e);
        added.push([spans, e]);
      }
    }
    this.added.set(id, added);
    if (disownable) this.disownable.add(id);
    else this.disownable.delete(id);
  }
  // EXPOSURE.audit: what this view's sums give for rec, compared with every negotiation counted afresh and with
  // every span asked -- an edit that moves a record without touch() shows here (tests/test_js_verifier.py)
  audit(v, rec, got) {
    EXPOSURE.audits++;
    const fresh = new ExposureSums();
    for (const id of v.negotiations.keys()) fresh.touch(id);
    const mhex = hex(rec.h.mandate);
    const x = fresh.of(v, mhex);
    for (const how of ["sum", "asked"]) {
      const want = [x.offers[how](rec) + x.contracts[how](rec)];
      for (const [k, live] of got.periods) want.push(x.sumIn(x.formed, k, rec, how) + (live === "now" ? x.offers[how](rec) : x.sumIn(x.later, k, rec, how)));
      const have = [got.outstanding, ...got.periods.map(([, , c]) => c)];
      if (want.join() !== have.join()) throw new Error(`exposure sums of ${rec.dhex} (${how}): ${have} kept, ${want} counted afresh`);
    }
  }
}
const TRADE = new Set(["offer", "counter", "accept", "reject", "withdraw"]);
const ESCROW_BODIES = new Set(["bond_lock", "release", "forfeit", "refund", "ruling"]);
const PARTY_BODIES = new Set(["delivery", "breach_claim", "revoke"]);
// KEY-010: the statements whose effect (WIT-005), bond (WIT-004) or discharge (CMT-001) starts at their
// escrow's Stamp
const STAMP_TIMED = new Set(["breach_claim", "revoke", "offer", "counter", "accept", "receipt"]);
const proposalOf = (rec) => (rec.bodyName === "offer" ? rec.body : rec.bodyName === "counter" ? rec.body.proposal : null);
const escrowOf = (rec) => proposalOf(rec)?.terms?.escrow ?? "";
// NEG-021: whether a is lower than b in their issuer's chain -- by seq, then issued_at_ms, then digest
// SPEC 4.5: whether rec answers the offer tip as the transition table would take it -- citing it, within its life
// (NEG-014, NEG-007), a Withdraw by its issuer or a Counter, Reject or Accept by its audience (NEG-004)
function answersAsTable(tip, rec) {
  const t = rec.h.issued_at_ms;
  if (rec.bodyName === "offer" || !rec.body || !rec.body.offer || hex(rec.body.offer) !== tip.dhex) return false;
  if (!(tip.h.issued_at_ms <= t && t <= tip.h.expires_at_ms)) return false;
  return (rec.h.issuer === tip.h.issuer) === (rec.bodyName === "withdraw");
}
function chainLower(a, b) {
  if (a.h.seq !== b.h.seq) return a.h.seq < b.h.seq;
  if (a.h.issued_at_ms !== b.h.issued_at_ms) return a.h.issued_at_ms < b.h.issued_at_ms;
  return Buffer.compare(a.digest, b.digest) < 0;
}
// NEG-021 (d), (e) (finding F55): the branch held off the line (n.offLine: each Counter taken superseded or cut
// off) that the offer ref ends -- its Counters from the answer to an offer of the line down to ref -- or null
function offLinePath(n, ref) {
  const off = n.offLine;
  let node = off?.get(ref);
  const path = [];
  while (node && path.length <= off.size) {
    path.unshift(node);
    const parent = hex(node.body.offer);
    if (n.line.some((o) => o.dhex === parent)) return path;
    node = off.get(parent);
  }
  return null;
}
// NEG-021 (d), (e) (finding F55): whether a witnessed Accept of path's last Counter takes the line back -- only
// where path[0] and the answer held to the offer of the line it answers (naming no escrow) are two answers of
// one key, by its audience within its life: over a line holding no witnessed contract (d), and over one holding
// one when path[0] is the lower (e); each Counter after path[0] answering the one before it as the table would
// have taken it, by its audience within its life (finding F60). wc: the line's contract, if its escrow witnessed it
function branchPrevails(n, path, wc) {
  const inLife = (o, a) => a.h.issuer === o.h.audience && o.h.issued_at_ms <= a.h.issued_at_ms && a.h.issued_at_ms <= o.h.expires_at_ms;
  if (!path.every((c, k) => k === 0 || inLife(path[k - 1], c))) return false;
  const root = path[0];
  const j = n.line.findIndex((o) => o.dhex === hex(root.body.offer));
  const fork = n.line[j];
  const t = root.h.issued_at_ms;
  if (escrowOf(fork) || root.h.issuer !== fork.h.audience || !(fork.h.issued_at_ms <= t && t <= fork.h.expires_at_ms)) return false;
  const held = j + 1 < n.line.length ? n.line[j + 1] : n.closer;
  if (!held || held.h.issuer !== root.h.issuer) return false;
  return !wc || chainLower(root, held);
}

// SPEC 4.5, MND-023: a displaced contract's negotiation as it would stand had the witnessed Accept not come
// (its state: the one it reached, or ACCEPTED for an Accept taken superseded on the cut-off line)
function shadowOf(n, c, state = n.state) {
  const shadow = Object.assign(Object.create(Negotiation.prototype), n);
  shadow.contract = c;
  shadow.state = state;
  shadow.displaced = undefined;
  shadow.offLine = undefined;
  return shadow;
}

// One key's statements held, seq (bigint) -> {digest, prev, t}, and their seqs in order: CHN-005's nearest
// neighbours held (a sparse view's chain has gaps) and CHN-002's last seq by a binary search, not a pass
class Chain extends Map {
  constructor() {
    super();
    this.seqs = [];
  }
  set(seq, v) {
    if (!this.has(seq)) this.seqs.splice(this.rank(seq), 0, seq);
    return super.set(seq, v);
  }
  // how many seqs held are below seq
  rank(seq) {
    let a = 0, b = this.seqs.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (this.seqs[m] < seq) a = m + 1;
      else b = m;
    }
    return a;
  }
  // the nearest seq held below seq (side -1) or above it (1), as {s, digest, prev, t}, or null
  nearest(seq, side) {
    const i = this.rank(seq) + (side < 0 ? -1 : this.has(seq) ? 1 : 0);
    const s = this.seqs[i];
    return s === undefined ? null : { s, ...this.get(s) };
  }
}

class Negotiation {
  constructor(offerRec) {
    this.id = hex(offerRec.h.negotiation_id);
    this.initiator = offerRec.h.issuer;
    this.responder = offerRec.h.audience;
    this.state = "PROPOSED";
    this.outstanding = offerRec;
    this.line = [offerRec]; // the opening Offer and each Counter taken with an event (SPEC 8.9)
    this.closer = null; // the Accept, Reject or Withdraw that closed the line
    this.contract = null;
  }
  other(k) {
    return k === this.initiator ? this.responder : this.initiator;
  }
  isParty(k) {
    return k === this.initiator || k === this.responder;
  }
  stateAt(t) {
    if ((this.state === "PROPOSED" || this.state === "COUNTERED") && t > this.outstanding.h.expires_at_ms) return "EXPIRED";
    return this.state;
  }
}

class Contract {
  constructor(offerRec, acceptRec) {
    this.offerRec = offerRec;
    this.acceptRec = acceptRec;
    this.digest = acceptRec.dhex;
    this.answeredTwice = false; // NEG-023: its acceptor's key answered the offer again, held beside it
    this.proposal = proposalOf(offerRec);
    this.terms = this.proposal.terms;
    this.escrow = this.terms.escrow;
    this.proposer = offerRec.h.issuer;
    this.acceptor = acceptRec.h.issuer;
    this.bond = new Map([
      [this.proposer, this.terms.issuer_bond],
      [this.acceptor, this.terms.audience_bond],
    ]);
    this.locked = new Map(); // party -> {amount, t}
    this.settled = new Map(); // party -> kind
    this.settlement = new Map(); // party -> the settlement rec a rating reads (ATT-005, ATT-006): a Forfeit over a Release or Refund
    this.deliveries = new Map(); // digest -> rec
    this.receipted = new Set(); // "party index"
    this.receiptOf = new Map(); // "party index" -> {r: Receipt rec, d: the Delivery rec it names}, the earliest
    this.endings = []; // Ruling recs UPHOLD or LAPSE (finishedAt)
    this.claims = new Map(); // digest -> {rec, accused, item, effectiveAt: bigint|null, ruled: null|"uphold"|"dismiss"}
    this.revokes = new Map(); // digest -> {rec, effectiveAt}
    this.lapsed = false;
    this.cutoff = offerRec.h.expires_at_ms + 30000n;
  }
  itemsOf(party) {
    return party === this.proposer ? this.proposal.gives : this.proposal.wants;
  }
  other(k) {
    return k === this.proposer ? this.acceptor : this.proposer;
  }
  isParty(k) {
    return k === this.proposer || k === this.acceptor;
  }
  bondRequired() {
    return this.terms.issuer_bond > 0n || this.terms.audience_bond > 0n;
  }
  requiredParties() {
    return [...this.bond].filter(([, b]) => b > 0n).map(([p]) => p);
  }
  allLocked() {
    return this.requiredParties().every((p) => this.locked.has(p));
  }
  lastDeadline() {
    return [...this.proposal.gives, ...this.proposal.wants].reduce((a, it) => (it.deadline_ms > a ? it.deadline_ms : a), 0n);
  }
  totalItems() {
    return this.proposal.gives.length + this.proposal.wants.length;
  }
  pendingClaims(except) {
    return [...this.claims.entries()].filter(([d, c]) => d !== except && c.effectiveAt !== null && c.ruled === null);
  }
}

export class Verifier {
  constructor({ mode, nowMs, role = "auditor", trustedEscrows = null }) {
    this.mode = mode;
    // ATT-013 (d): the escrows whose Stamps say a proof's statement was witnessed before its principal's
    // revocation in this view (null: every escrow's); an untrusted one's Stamp spares, never convicts (F108)
    this.trustedEscrows = trustedEscrows ? new Set(trustedEscrows) : null;
    this.role = role;
    this.nowMs = nowMs;
    // KEY-009 (d): the envelopes taken, in order, and the hex digests of the Stamps a view of evidence holds
    // disowned -- witnessing nothing, recorded in no stamp list (finding F44); `rebuilding`: that set, fixed,
    // while the view derives again what it took (reweigh)
    this.taken = [];
    // NEG-009 after a re-derive (finding F80): hex digest -> envelope of each Accept held off -- taken, then
    // refused EXCLUSIVE_CONFLICT where it stands once what ended the contract holding its key counts no more;
    // kept in `taken`, moving nothing, until a Stamp of it by its offer's escrow lets it in again (NEG-019)
    this.heldOff = new Map();
    this.unwitnessing = new Set();
    this.rebuilding = null;
    // SPEC 17 (a group's role), 11.4: an auditor is a view of evidence (KEY-009's exception); an escrow
    // taking evidence, and its audit (AUD-003), refuses what KEY-004/KEY-005/MND-012 say and applies KEY-010.
    this.evidenceView = role !== "escrow";
    this.now = nowMs === null || nowMs === undefined ? null : BigInt(nowMs);
    this.byDigest = new Map(); // hex digest -> accepted record
    // principal \0 agent -> hex digest -> the Mandates held from that principal for that agent: where ESC-019
    // looks for renewals ("held Mandates of the same principal for the party's key"), not every record held
    this.mandatesByGrant = new Map();
    this.nonces = new Map(); // issuer \0 hex nonce -> hex digest
    this.chains = new Map(); // issuer -> Chain
    this.revocations = new Map(); // key -> [{eff, dhex}]
    this.rotations = new Map(); // key -> [{seq, dhex}] of every KeyRotation held (KEY-005, KEY-009)
    // key -> the principals it is bound to (KEY-007): where ESC-022's hand-over looks for the old key's
    // principal (successors), not every binding held
    this.bound = new Map();
    this.bindingAt = new Map(); // key \0 principal -> {t, seq} of the earliest statement binding them (ESC-022)
    this.handovers = new Map(); // old escrow key -> [{agent, issuer}] of the Mandates naming it in succeeds (ESC-022)
    this.negotiations = new Map(); // hex id -> Negotiation
    this.stamps = new Map(); // hex digest named -> [{escrow, t, seq, pos}]
    this.attested = new Map(); // issuer \0 contract -> seq
    this.offersByNegotiation = new Map(); // hex id -> [its offer records: the opening Offer, each Counter counted]
    // offerer \0 hex exclusive_key -> the hex ids of the negotiations a contract naming that key was formed in:
    // where NEG-009 looks for a live contract holding the key (holdersOf), not every negotiation held
    this.exclusiveHolders = new Map();
    this.exposureSums = new ExposureSums(); // step 29's sums (SPEC 4.5)
    this.superseded = new Set(); // hex digests of superseded statements (NEG-017, NEG-018)
    this.handedFrom = new Map(); // old escrow key -> the revocations' reaches its contracts were last rebuilt at (ESC-022 (e))
    // hex negotiation id -> the records of it held, in the order they came: what deriveAgain replays --
    // not a pass over every record held for each contract it rebuilds (ESC-022 (e); finding F47)
    this.heldByNegotiation = new Map();
    // SPEC 4.5, NEG-021 (finding F105): hex negotiation id \0 hex statement -> the records of it held that cite
    // that statement, in the order they came, those that may answer it ranked lowest in their issuer's chain
    // first; and id \0 issuer \0 hex offer -> that key's Counter, Accept or Reject of it highest in its chain. A key's flood of answers to a
    // statement cut off costs each recount of the cut-off line a lookup, not a pass over the negotiation's
    // records: 1,000 Rejects in reverse chain order took 46 s (one pass each, and one more each recount).
    this.citing = new Map();
    this.topAnswer = new Map();
    // ATT-012, ATT-013, ATT-022 (finding F57): issuer -> the fork or answer proof held against it, {first,
    // second, kind, rank} -- from a refusal carrying a conflict (a fork) or two answers of one key to one
    // statement, taken or refused; of two, the one ranked first (ATT-013 (c), finding F76) -- kept across
    // every re-derive (shared with the fresh view: no view un-takes a proof)
    this.forks = new Map();
    // hex negotiation id \0 issuer \0 hex statement answered -> the answers of that key to it seen, taken or
    // refused from the statement's audience: the earliest and the best pair (ATT-013 (c), finding F76)
    this.answersSeen = new Map();
  }

  // KEY-009: S's witnessing escrow stamped S before it stamped every revocation in `revs` it stamped. `via`:
  // for a Mandate S (no escrow of its own), a statement naming it: that one's witnessing escrow, by its
  // earliest Stamp of S or of `via` (it took the Mandate as evidence when it took `via`, MND-002, WIT-001).
  witnessedBefore(rec, revs, via = null) {
    const e = this.witnessingEscrow(via ?? rec);
    if (!e) return false;
    const first = (d) => {
      const l = (this.stamps.get(d) ?? []).filter((s) => this.stampActsFor(s.escrow, e, s.t, s.seq));
      if (!l.length) return null;
      return l.reduce((a, b) => (cmpStamp(b, a) < 0 ? b : a));
    };
    const own = first(rec.dhex), other = via ? first(via.dhex) : null;
    const s = own && other ? (cmpStamp(other, own) < 0 ? other : own) : own ?? other;
    if (!s) return false;
    for (const r of revs) {
      const sr = first(r.dhex);
      if (sr && !(cmpStamp(s, sr) < 0)) return false;
    }
    return true;
  }
  witnessingEscrow(rec) {
    const { bodyName, h } = rec;
    if (bodyName === "offer" || bodyName === "counter") return escrowOf(rec);
    if (!NEGOTIATION_BODIES.has(bodyName)) return null;
    // a statement naming another: the escrow the statements it names lead to -- its signer's own word, not
    // where the negotiation moved on to (F107: a Reject after a Counter elsewhere; F120: a Delivery of a
    // contract a witnessed Accept displaced, NEG-017); a link not held, none -- the negotiation's contract or
    // outstanding offer is not the one it names (KEY-009 (e): an Accept, F118; the others, F122)
    if (NAMED_LINKS[bodyName]) return this.namedEscrow(rec) ?? null;
    const n = this.negotiations.get(hex(h.negotiation_id));
    if (!n) return null;
    if (n.contract) return n.contract.escrow || null;
    return escrowOf(n.outstanding) || null;
  }
  // KEY-009, ATT-025: the escrow named by the Offer or Counter `rec`'s links lead to (an answer's or a
  // Withdraw's offer; a Delivery's, BreachClaim's or Revoke's contract's Accept, then what it accepts; a
  // Receipt's Delivery, then on), null when it names none; undefined when a link is not held or of another kind
  namedEscrow(rec) {
    let at = rec;
    for (let link = NAMED_LINKS[at.bodyName]; link; link = NAMED_LINKS[at.bodyName]) {
      const named = this.byDigest.get(hex(at.body[link[0]]));
      if (!named || !link[1].includes(named.bodyName)) return undefined;
      if (named.bodyName === "offer" || named.bodyName === "counter") return escrowOf(named) || null;
      at = named;
    }
    return undefined;
  }
  // ESC-022: the hand-overs of escrow key `old` honoured -- {agents, from} -- or null: `old` revoked (from
  // the earliest effective_ms held), bound before it to one principal alone (not itself); every agent of
  // that principal's Mandates naming `old` in succeeds (two named both: ESC-022 (d), so a hand-over heard
  // later un-honours nothing taken).
  successors(old) {
    const held = this.handovers.get(old);
    const revs = this.revocations.get(old) ?? [];
    if (!held || !revs.length) return null;
    // bound by a statement under the principal's Mandate that no revocation of `old` reaches (KEY-011)
    const principals = [...(this.bound.get(old) ?? [])].filter((p) => {
      const b = this.bindingAt.get(`${old}\0${p}`);
      return !this.revokedAt(old, b.t, p, b.seq, b).length;
    });
    if (principals.length !== 1 || principals[0] === old) return null;
    const agents = new Set(held.filter((x) => x.issuer === principals[0]).map((x) => x.agent));
    // from the earliest time a revocation reaches `old`'s statements under that principal's Mandates
    const reaches = revs.map((r) => this.reachOf(r, old, principals[0]));
    const from = reaches.map((x) => x.t).reduce((a, b) => (b < a ? b : a));
    return agents.size ? { agents, from, reaches } : null;
  }
  // KEY-007: `key` is bound to `principal` (its earliest binding statement: bindingAt)
  bind(key, principal) {
    const held = this.bound.get(key);
    if (held) held.add(principal);
    else this.bound.set(key, new Set([principal]));
  }
  // ESC-022 (e) with KEY-011: whether a revocation of `escrow` held reaches its own statement at `t`, `seq`
  // (with the seq floor: the key's own revocation reaches nothing its chain orders before it, however early
  // it is dated -- finding F46); `seq` unknown (null): whether it is dated from the hand-over's time on.
  ownReached(s, t, seq) {
    if (seq === null || seq === undefined) return t >= s.from;
    return s.reaches.some((x) => (t >= x.t && BigInt(seq) >= x.floor) || (x.above !== null && BigInt(seq) >= x.above));
  }
  // ESC-022: whether a statement by `issuer` at `t` is escrow `escrow`'s: its own before a hand-over of it
  // honoured, a successor's from the hand-over's time on -- never the revoked key's own from then on (its
  // thief's, ESC-022 (e); finding F40).
  actsFor(issuer, escrow, t, seq = null) {
    const s = this.successors(escrow);
    if (issuer === escrow) return s === null || !this.ownReached(s, t, seq);
    return s !== null && s.agents.has(issuer) && t >= s.from;
  }
  // ESC-022 (e): once a hand-over of an escrow key is honoured -- or its time comes earlier -- every contract
  // naming that key is what the statements held that count make it: rebuilt from its negotiation's
  // statements, in the order they came, the revoked key's own from the hand-over's time on refused
  // (WRONG_PARTY) and its Stamps from then on witnessing nothing -- as in a view that heard the hand-over
  // first. Before, the order decided: a view that took the thief's Stamp, UPHOLD and Forfeit before the
  // revocation kept them until a successor spoke (finding F43).
  rebuildHandedOver() {
    for (const old of this.handovers.keys()) {
      const s = this.successors(old);
      const was = this.handedFrom.get(old);
      const now = s ? s.reaches.map((x) => `${x.t}/${x.floor}/${x.above}`).sort().join(",") : null;
      if (!s || was === now) continue; // rebuilt again when a revocation's reach is new (F46)
      this.handedFrom.set(old, now);
      for (const [id, n] of [...this.negotiations]) if (n.contract?.escrow === old) this.deriveAgain(id);
    }
  }
  // ESC-022 for Stamps: whether a Stamp by `issuer` at `t` is escrow `escrow`'s -- its own before a hand-over
  // of it honoured, a successor's from the hand-over's time on, and never the revoked key's own from then on
  // (its thief's: any digest, any time) (finding F38).
  stampActsFor(issuer, escrow, t, seq = null) {
    if (issuer !== escrow) return this.actsFor(issuer, escrow, t);
    const s = this.successors(escrow);
    return s === null || !this.ownReached(s, t, seq);
  }
  // KEY-011: from when (t), and from which seq of the key's chain (floor), revocation `r` of `key` reaches a
  // statement of `key` made under the Mandate of principal `authority` ("" for none), issued at `at` =
  // {t, seq} when it is one statement -- or, for `authority` null, a statement of another key under the
  // Mandate of `key` at `at` = {t, seq}, that Mandate's place in `key`'s chain (MND-012, KEY-011 (c)). A
  // revocation reaches back to its effective_ms only over statements under the authority of its issuer or of
  // a principal the key bound itself to later -- under `key`'s Mandates, only a principal `key` was bound to
  // at or before the Mandate; the key's own takes effect no earlier than its issued_at_ms, and reaches none
  // of the key's statements at a seq below its own. `above`: KEY-011 (e), a principal's revocation stating
  // the key's chain length (non-zero) reaches, where it reaches back, the key's statements from that seq on
  // whatever their time (null: none; finding F123).
  reachOf(r, key, authority, at = null) {
    const late = r.issued > r.eff ? r.issued : r.eff;
    if (authority === null) {
      const b = r.issuer === key || at === null ? null : this.bindingAt.get(`${key}\0${r.issuer}`);
      const back = b && (b.t < at.t || (b.t === at.t && b.seq <= at.seq));
      return { t: back ? r.eff : late, floor: -1n, above: null };
    }
    if (r.issuer === key) return { t: late, floor: r.seq, above: null };
    // under no Mandate (the key's own word): reached back once the key was bound to r's issuer
    const b = authority === "" && at ? this.bindingAt.get(`${key}\0${r.issuer}`) : null;
    const back =
      authority === ""
        ? !at || (b && (b.t < at.t || (b.t === at.t && b.seq <= at.seq)))
        : authority === r.issuer || this.boundFirst(key, r.issuer, authority, at);
    return { t: back ? r.eff : late, floor: -1n, above: back && r.len > 0n ? r.len : null };
  }
  // KEY-011 (b): whether `key` was bound to `principal` no later than to `other`, by the earliest statement
  // held binding it to each ({t, seq}); `at`: a statement under `other`'s Mandate, which binds it too
  boundFirst(key, principal, other, at) {
    const before = (a, b) => a.t < b.t || (a.t === b.t && a.seq <= b.seq);
    const mine = this.bindingAt.get(`${key}\0${principal}`);
    if (!mine) return false;
    let theirs = this.bindingAt.get(`${key}\0${other}`) ?? null;
    if (at && (!theirs || !before(theirs, at))) theirs = at;
    return !theirs || before(mine, theirs);
  }
  // the revocations held of `key` that reach, at `t`, a statement under `authority` issued at `at` (its seq
  // `seq` compared with a self-revocation's when given: see reachOf)
  revokedAt(key, t, authority = null, seq = null, at = null) {
    return (this.revocations.get(key) ?? []).filter((r) => {
      const x = this.reachOf(r, key, authority, at);
      return (x.t <= t && (seq === null || seq >= x.floor)) || (seq !== null && x.above !== null && BigInt(seq) >= x.above);
    });
  }
  // the principal whose Mandate a statement's header names, when held ("" otherwise)
  authorityOf(h) {
    const m = h.mandate.length ? this.byDigest.get(hex(h.mandate)) : null;
    return m && m.bodyName === "mandate" ? m.h.issuer : "";
  }
  // KEY-005: the rotations of `key` held at a seq below `seq` (the lowest ends the chain; KEY-009 asks of each)
  rotatedBelow(key, seq) {
    return (this.rotations.get(key) ?? []).filter((r) => r.seq < seq);
  }
  // KEY-009 (c), (d): a view of evidence holds a statement the revocations or rotations held would reject --
  // one of a negotiation, with a witnessing escrow or none, a Mandate (its witness a statement naming it, (a)),
  // and one of no negotiation (F44: a Stamp, a KeyRevocation, a KeyRotation, an Attestation, a Checkpoint, an
  // Ack, a Deposit) -- and weighs it when it rates (disowned), whatever the order it heard them in (F31, F34,
  // F39, F44).
  keptAsEvidence(rec) {
    return this.evidenceView;
  }
  // KEY-009 (d): a Stamp a view of evidence holds disowned witnesses nothing. A Stamp has no witnessing escrow:
  // whether it is disowned reads revocations, rotations and bindings, never a Stamp (no cycle).
  stampDisowned(rec) {
    if (this.rebuilding) return this.rebuilding.has(rec.dhex);
    return this.evidenceView && (this.revocations.size > 0 || this.rotations.size > 0) && disowned(this, rec);
  }
  // KEY-009 (d): once a revocation, rotation or binding changed which Stamps held are disowned, derive again
  // what the view took, in the order it took it, with those Stamps witnessing nothing -- as a view that heard
  // the revocation first derived it (the Python reference re-derives the negotiations they name)
  reweigh() {
    if (!this.evidenceView || this.rebuilding) return;
    for (let round = 0; round < 8; round++) {
      const target = new Set(
        [...this.byDigest.values()].filter((r) => r.bodyName === "stamp" && (this.revocations.size > 0 || this.rotations.size > 0) && disowned(this, r)).map((r) => r.dhex),
      );
      if (target.size === this.unwitnessing.size && [...target].every((d) => this.unwitnessing.has(d))) return;
      const fresh = new Verifier({ mode: this.mode, nowMs: this.nowMs, role: this.role });
      fresh.rebuilding = target;
      this.takeAgainInto(fresh);
      fresh.rebuilding = null;
      fresh.unwitnessing = target;
      Object.assign(this, fresh);
    }
  }
  // What this view took, in the order it took it, fed to a fresh view (what it refuses, it refuses)
  // -- but an Accept it refuses NEG-009 it holds off (finding F80)
  takeAgainInto(fresh) {
    fresh.forks = this.forks; // a proof held stays held (ATT-013), those from refusals too
    fresh.takingAgain = true;
    for (const e of this.taken) {
      try {
        fresh.accept(e);
      } catch (err) {
        if (!(err instanceof Reject)) throw err;
        if (err.code === "EXCLUSIVE_CONFLICT") {
          fresh.taken.push(e);
          fresh.heldOff.set(hex(statelessOf(e).digest), e);
        } else {
          // what the derivation again refuses moves nothing and stays held (KEY-009 (d), ERR-003): its link
          // stays in its issuer's chain, or the next of that chain is a gap (finding F132)
          const r = statelessOf(e);
          const link = r?.h ? this.chains.get(r.h.issuer)?.get(r.h.seq) : null;
          if (link && link.digest === hex(r.digest)) {
            const chain = fresh.chains.get(r.h.issuer) ?? new Chain();
            chain.set(r.h.seq, link);
            fresh.chains.set(r.h.issuer, chain);
          }
        }
      }
    }
    fresh.takingAgain = false;
  }
  // NEG-019 (finding F80): a Stamp naming an Accept held off lets it in again when it witnesses it -- by its
  // offer's escrow, by the bonding cutoff --: the Accept is checked again now, NEG-009 no ground to refuse it,
  // and moves its negotiation as in a view that heard the Stamp first. It stays at its place in `taken`.
  letInAgain(stamp) {
    for (const d of stamp.body.statements) {
      const e = this.heldOff.get(hex(d));
      if (!e) continue;
      try {
        this.acceptChecked(e, false);
      } catch (err) {
        if (err instanceof Reject) continue; // witnessed by no Stamp of its escrow: still held off
        throw err;
      }
      this.heldOff.delete(hex(d));
      this.taken.splice(this.taken.lastIndexOf(e), 1);
    }
  }
  // NEG-021 (d) (findings F51, F61): a Stamp witnessing an Accept held superseded -- cut back by a lower answer
  // before the Stamp came, or answering a Counter taken superseded as the higher answer -- derives again that
  // Accept's negotiation alone, with the Stamp held, as a view that held it first: the witnessed contract stands,
  // and counts for its parties from its Accept (exposure reads the negotiations as they stand). What the view
  // took while it held the cut-back stays taken -- no view un-takes -- as the Python reference reads it: the whole
  // view derived again per late Stamp (F61) was quadratic, and refused and dropped a later offer of another
  // negotiation that the witnessed contract would have put over its issuer's cap.
  witnessCutOff(stamp) {
    const ids = new Set();
    for (const d of stamp.body.statements) {
      const a = this.byDigest.get(hex(d));
      const offer = a && a.bodyName === "accept" && this.superseded.has(a.dhex) ? this.byDigest.get(hex(a.body.offer)) : null;
      if (offer && this.witnessOf(a, offer)) ids.add(hex(a.h.negotiation_id));
      // NEG-026 (finding F98): or a Counter or Reject held superseded beside the contract of an Accept of the
      // same offer its escrow has not witnessed: that escrow took it, and it takes the Accept's place
      const n = a && (a.bodyName === "counter" || a.bodyName === "reject") && this.superseded.has(a.dhex) ? this.negotiations.get(hex(a.h.negotiation_id)) : null;
      const c = n?.contract;
      if (c && c.offerRec.dhex === hex(a.body.offer) && this.takenByEscrow(n, c.offerRec, a)) ids.add(hex(a.h.negotiation_id));
    }
    for (const id of ids) this.deriveAgain(id);
  }
  // The negotiation `id` derived again from its statements held, in the order taken, from its opening Offer: what
  // the state machine refuses now moves nothing and stays held (ERR-003). Each record's marks of the derivation
  // before -- superseded, cut off, answered early -- are dropped, and its offers counted again as they are taken.
  deriveAgain(id) {
    const [first, ...rest] = this.heldByNegotiation.get(id);
    this.exposureSums.touch(id);
    for (const r of [first, ...rest]) {
      this.superseded.delete(r.dhex);
      for (const k of ["superseded", "witnessedAccept", "cutBy", "cutAnswer", "earlyAnswers"]) delete r[k];
    }
    this.offersByNegotiation.delete(id);
    this.negotiations.set(id, new Negotiation(first));
    this.pushOffer(first);
    for (const r of rest) {
      try {
        const apply = this.checkNegotiation(r);
        if (apply) this.applyTo(id, apply);
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
      }
    }
  }
  // A transition applied to negotiation `id`: its exposure counted again at the next check -- and at one the
  // transition itself makes (continueBranch's refusedHeldFirst), from where it stands then
  applyTo(id, apply) {
    this.exposureSums.touch(id);
    apply();
    this.exposureSums.touch(id);
  }
  // KEY-010: a BreachClaim or Revoke takes effect at its escrow's Stamp, an Offer, Counter or Accept binds a
  // bond when the escrow takes it, a Receipt discharges an obligation then: an escrow (and its audit)
  // refuses one whose earliest Stamp held by its
  // witnessing escrow is at or after the effective_ms of a revocation held of its issuer or of its Mandate's
  // principal, whatever the statement's own date.
  // the keys whose revocations reach `rec`, each with the authority reachOf reads: its issuer under its
  // Mandate's principal, and that principal (MND-012) -- not when it is the issuer, whose own Mandate's
  // statements KEY-004 reads as any of its statements (MND-025)
  revokers(rec) {
    const l = [[rec.h.issuer, rec.principal ?? ""]];
    if (rec.principal && rec.principal !== rec.h.issuer) l.push([rec.principal, null]);
    return l;
  }
  checkRevokedAtStamp(rec) {
    if (!STAMP_TIMED.has(rec.bodyName)) return;
    const e = this.witnessingEscrow(rec);
    const l = e ? (this.stamps.get(rec.dhex) ?? []).filter((s) => this.stampActsFor(s.escrow, e, s.t, s.seq)) : [];
    if (!l.length) return;
    const t = l.reduce((a, b) => (b.t < a.t ? b : a)).t;
    const own = { t: rec.h.issued_at_ms, seq: rec.h.seq };
    for (const [key, authority] of this.revokers(rec)) {
      if (key && this.revokedAt(key, t, authority, null, authority === null ? rec.mandateAt : own).length) fail("KEY_REVOKED", "KEY-010", `taken at its escrow's Stamp (${t}), after the key's revocation`);
    }
  }

  // KEY-010 (c), in the escrow's own order: the held revocation (with its Stamp's time) whose witnessing
  // escrow's Stamp is before that escrow's earliest Stamp of `rec` (KEY-009's order), that Stamp at or after the
  // revocation's effective_ms -- the escrow took `rec` holding it -- or null. A view of evidence holds `rec` and
  // weighs it disowned (KEY-009 (c), F34); a revocation stamped after it disowns nothing.
  // `via`: a statement resting on `rec` whose witnessing escrow reads it, at its earliest Stamp of either (ATT-020
  // (c), F115: an Offer or Counter of a rated contract naming another escrow, or none, read with the Accept)
  stampOrderedRevocation(rec, via = null) {
    if (!STAMP_TIMED.has(rec.bodyName)) return null;
    const e = this.witnessingEscrow(via ?? rec);
    if (!e) return null;
    const first = (d) => {
      const l = (this.stamps.get(d) ?? []).filter((s) => this.stampActsFor(s.escrow, e, s.t, s.seq));
      return l.length ? l.reduce((a, b) => (cmpStamp(b, a) < 0 ? b : a)) : null;
    };
    const mine = first(rec.dhex), other = via ? first(via.dhex) : null;
    const s = mine && other ? (cmpStamp(other, mine) < 0 ? other : mine) : mine ?? other;
    if (!s) return null;
    const own = { t: rec.h.issued_at_ms, seq: rec.h.seq };
    for (const [key, authority] of this.revokers(rec)) {
      if (!key) continue;
      for (const r of this.revokedAt(key, s.t, authority, null, authority === null ? rec.mandateAt : own)) {
        const sr = first(r.dhex);
        if (sr && cmpStamp(sr, s) < 0) return { eff: r.eff, stampedAt: s.t };
      }
    }
    return null;
  }

  // 27. chain: CHN-004, CHN-003, CHN-005, CHN-002, CHN-007 against the issuer's chain held
  checkChain(rec, chain) {
    const { h, body, bodyName, dhex } = rec;
    const held = chain.get(h.seq);
    if (held && held.digest !== dhex) fail("EQUIVOCATION", "CHN-004", `seq ${h.seq}`);
    const below = chain.get(h.seq - 1n);
    if (below && below.digest !== hex(h.prev)) fail("CHAIN_BROKEN", "CHN-003", "prev does not link");
    const above = chain.get(h.seq + 1n);
    if (above && above.prev !== dhex) fail("CHAIN_BROKEN", "CHN-003", "next does not link");
    const lo = chain.nearest(h.seq, -1), hi = chain.nearest(h.seq, 1);
    if (lo && h.issued_at_ms < lo.t) fail("CHAIN_BROKEN", "CHN-005", "issued before its predecessor");
    if (hi && h.issued_at_ms > hi.t) fail("CHAIN_BROKEN", "CHN-005", "issued after its successor");
    if (this.mode === "complete" && chain.size > 0) {
      const last = chain.seqs.at(-1);
      if (h.seq !== last + 1n) fail("CHAIN_GAP", "CHN-002", `expected seq ${last + 1n}, got ${h.seq}`);
    }
    if (bodyName === "checkpoint" && h.seq > 0n) {
      const ds = [];
      for (let s = 0n; s < h.seq; s++) {
        const c = chain.get(s);
        if (!c) break;
        ds.push(Buffer.from(c.digest, "hex"));
      }
      if (BigInt(ds.length) === h.seq && !merkleRoot(ds).equals(body.log_root)) fail("LOG_ROOT_MISMATCH", "CHN-007", "log_root");
    }
  }

  // KEY-007 (finding F35): a statement of a key K under a held Mandate naming K, refused only KEY_REVOKED
  // (KEY-004: a held revocation of K reaches it), binds K to that Mandate's principal all the same -- at its
  // issued_at_ms and seq, nothing else of it kept -- when it passes every check with K's revocations set
  // aside; a view that heard it before the revocation holds it (disowned) and is bound by it, so KEY-011
  // (b)/(c) read the same binding whatever order the revocation and the binding were heard in.
  accept(envBytes) {
    let rec;
    try {
      rec = this.acceptChecked(envBytes, false);
    } catch (e) {
      if (e instanceof Reject && e.code === "KEY_REVOKED" && e.requirement === "KEY-004") this.bindPastRevocation(envBytes);
      if (e instanceof Reject) this.keepProofOfRefused(envBytes, e);
      throw e;
    }
    this.keepProofOfTaken(rec);
    return rec;
  }

  // ATT-012, ATT-022 (finding F57): whether the held record `a` and `b` are a proof against `b`'s issuer; kept
  // when none is held against it or it ranks before the one held (ATT-013 (c), finding F76: whichever came
  // first, the view reads (b) on one proof, the one ranked first)
  keepProof(a, b) {
    const kind = a && a !== b ? proofKind(a, b) : null;
    if (!kind) return false;
    const lower = a.h.seq < b.h.seq || (a.h.seq === b.h.seq && a.dhex < b.dhex);
    const [lo, hi] = lower ? [a, b] : [b, a];
    const held = this.forks.get(b.h.issuer), rank = pairRank(lo, hi);
    if (!held || rankBefore(rank, held.rank)) this.forks.set(b.h.issuer, { first: lo.env, second: hi.env, kind, rank });
    return true;
  }
  // A refusal for the chain or the nonce (EQUIVOCATION, CHAIN_BROKEN, NONCE_REUSED: ATT-011) is a proof with
  // the held statement it conflicts with -- at its seq, beside it, the nearest below or above (CHN-005), the
  // nonce's holder, the key's own revocation (KEY-012); a refused answer is weighed with the key's answers
  // to the same statement seen in its negotiation (ATT-022 (b), ATT-013 (c))
  keepProofOfRefused(envBytes, e) {
    let r;
    try {
      r = verifyStateless(envBytes);
    } catch (x) {
      if (x instanceof Reject) return; // steps 1-20 fail: no proof (ATT-012)
      throw x;
    }
    const { h } = r;
    const rec = { ...r, dhex: hex(r.digest), env: envBytes };
    const held = [];
    if (e.code === "EQUIVOCATION" || e.code === "CHAIN_BROKEN" || e.code === "NONCE_REUSED") {
      const chain = this.chains.get(h.issuer) ?? new Map();
      let lo = null, hi = null;
      for (const [s, v] of chain) {
        if (s >= h.seq - 1n && s <= h.seq + 1n) held.push(v.digest);
        if (s < h.seq && (lo === null || s > lo.s)) lo = { s, d: v.digest };
        if (s > h.seq && (hi === null || s < hi.s)) hi = { s, d: v.digest };
      }
      held.push(lo?.d, hi?.d, this.nonces.get(`${h.issuer}\0${hex(h.nonce)}`));
      for (const x of this.revocations.get(h.issuer) ?? []) if (x.issuer === h.issuer) held.push(x.dhex);
    }
    for (const d of held) if (d && this.keepProof(this.byDigest.get(d), rec)) return;
    if (ANSWER_BODIES.has(r.bodyName)) this.weighAnswer(rec, true);
  }
  // A statement taken: an answer, weighed with its key's other answers to the statement it answers (NEG-021
  // holds a second superseded, or it cuts the first back: ATT-022 (b)); in a sparse view, a fork of the key's
  // own revocation, which joins no chain (KEY-013)
  keepProofOfTaken(rec) {
    const { h, bodyName, body } = rec;
    if (ANSWER_BODIES.has(bodyName)) this.weighAnswer(rec, false);
    const own = (this.revocations.get(h.issuer) ?? []).filter((x) => x.issuer === h.issuer && x.dhex !== rec.dhex);
    for (const x of own) this.keepProof(this.byDigest.get(x.dhex), rec);
    if (bodyName === "key_revocation" && body.key === h.issuer) {
      for (const [s, v] of this.chains.get(h.issuer) ?? []) if (s >= h.seq - 1n && s <= h.seq + 1n) this.keepProof(this.byDigest.get(v.digest), rec);
    }
  }
  // ATT-013 (c), ATT-022 (b) (finding F76): the answer `rec` beside its key's answers to the same statement in
  // the same negotiation, of which the view keeps the earliest (issued_at_ms, then digest) and the best pair
  // (pairRank): paired with those two alone -- the earliest, and the best pair's lower digest -- the best
  // pair of all seen stays the best in any order, one step per answer. A refused answer counts from the
  // statement's audience alone, in a negotiation held (a stranger's refusals cost no memory).
  weighAnswer(rec, refused) {
    const { h, body } = rec;
    const nid = hex(h.negotiation_id);
    const k = `${nid}\0${h.issuer}\0${hex(body.offer)}`;
    let seen = this.answersSeen.get(k);
    if (!seen) {
      const answered = this.byDigest.get(hex(body.offer));
      const audience = answered && (answered.bodyName === "offer" || answered.bodyName === "counter") && answered.h.audience === h.issuer;
      if (refused && !(audience && this.negotiations.has(nid))) return;
      this.answersSeen.set(k, { earliest: rec, best: null });
      return;
    }
    const { earliest, best } = seen;
    if (rec.dhex === earliest.dhex || (best && (rec.dhex === best[0].dhex || rec.dhex === best[1].dhex))) return;
    const pairs = [[rec, earliest]];
    if (best) pairs.push(best, [rec, best[0].dhex < best[1].dhex ? best[0] : best[1]]);
    const top = pairs.reduce((x, y) => (rankBefore(pairRank(...y), pairRank(...x)) ? y : x));
    if (rec.h.issued_at_ms < earliest.h.issued_at_ms || (rec.h.issued_at_ms === earliest.h.issued_at_ms && rec.dhex < earliest.dhex)) seen.earliest = rec;
    if (top === best) return;
    seen.best = top;
    this.keepProof(top[0], top[1]);
  }
  // ATT-013: every key a proof held convicts, and every principal it is bound to but one whose own revocation
  // of the key disowns a statement of the proof (ATT-013 (b), finding F71)
  faulty() {
    const out = new Set(this.forks.keys());
    for (const [key, principals] of this.bound) {
      for (const principal of this.forks.has(key) ? principals : []) if (!this.sparedBy(key, principal)) out.add(principal);
    }
    return [...out].sort();
  }
  // ATT-013 (d) made visible (F121): each key and principal a proof held convicts, {subject, proof_against,
  // stamps_of} -- the escrows whose Stamps the conviction rests on: for a principal that revoked the key, the
  // witnessing escrow of each statement of the proof its revocation reaches (that escrow's Stamp before the
  // revocation keeps the statement the principal's, KEY-009); none for the key itself or a principal that
  // revoked nothing (the proof alone convicts them). Whoever signed with the key chose that escrow -- after
  // a theft, the thief -- so a view reading every escrow's Stamps shows its operator which ones it relied on.
  convictions() {
    const out = [];
    for (const key of this.forks.keys()) {
      const subjects = new Set([key]);
      for (const principal of this.bound.get(key) ?? []) if (!this.sparedBy(key, principal)) subjects.add(principal);
      for (const subject of [...subjects].sort()) {
        const mine = (this.revocations.get(key) ?? []).filter((r) => r.issuer === subject && subject !== key);
        const reached = mine.length ? this.proofRecords(key).filter((rec) => mine.some((x) => x.eff <= rec.h.issued_at_ms)) : [];
        const escrows = new Set(reached.map((rec) => this.witnessingEscrow(rec)).filter(Boolean));
        out.push({ subject, proof_against: key, stamps_of: [...escrows].sort() });
      }
    }
    return out;
  }
  // the two statements of the proof held against `key`, each as its held record, else read from the proof
  proofRecords(key) {
    const { first, second } = this.forks.get(key);
    return [first, second].map((env) => {
      const r = verifyStateless(env);
      return this.byDigest.get(hex(r.digest)) ?? { ...r, dhex: hex(r.digest), env };
    });
  }
  // ATT-013 (b): whether a revocation of `key` held that `principal` issued reaches a statement of the proof
  // against `key` that its witnessing escrow did not stamp before it (KEY-009). Neither `key`'s own
  // revocation (KEY-013) nor another principal's spares `principal`; a statement of the proof need not be held.
  // The principal's revocation reaches back to its effective_ms here whatever Mandate the statement names
  // (KEY-011's authority reading aside, finding F82): read by it, a thief's statement dated before the key's
  // binding to the principal, under no Mandate or its own principal's, was out of every revocation's reach.
  sparedBy(key, principal) {
    const mine = (this.revocations.get(key) ?? []).filter((r) => r.issuer === principal && principal !== key);
    if (!mine.length) return false;
    return this.proofRecords(key).some((rec) => {
      // ATT-013 (d), F108: a statement its untrusted escrow stamped is read as unstamped -- the escrow an Offer
      // or Counter names is the choice of whoever holds the key, a thief's own after the revocation
      const trusted = !this.trustedEscrows || this.trustedEscrows.has(this.witnessingEscrow(rec));
      return mine.some((x) => x.eff <= rec.h.issued_at_ms && !(trusted && this.witnessedBefore(rec, [x]) && !this.toldFirst(rec, x)));
    });
  }
  // ATT-013 (f), F119: with trusted escrows stated, whether another of them stamped the revocation `x` no more
  // than the clock tolerance (WIT-003) after `rec`'s witnessing escrow first stamped `rec` -- two escrows'
  // clocks order nothing closer, and the view spares on what it cannot vouch for
  toldFirst(rec, x) {
    if (!this.trustedEscrows) return false;
    const e = this.witnessingEscrow(rec);
    const s = this.firstStamp(rec.dhex, e);
    if (!s) return false;
    for (const other of this.trustedEscrows) {
      const sr = other === e ? null : this.firstStamp(x.dhex, other);
      if (sr && sr.t <= s.t + 30000n) return true;
    }
    return false;
  }

  bindPastRevocation(envBytes) {
    const { h } = verifyStateless(envBytes);
    // an escrow taking evidence, and its audit, bind so too (KEY-007 (a)): it stamps one of no negotiation
    // and keeps it, shown, not held; one of a negotiation it refuses, never stamped, and keeps where it came
    // (F42: the escrow role bound by none of a negotiation, and read its transcript otherwise)
    const m = h.mandate.length ? this.byDigest.get(hex(h.mandate)) : null;
    if (!m || m.bodyName !== "mandate" || m.body.agent !== h.issuer) return;
    const bk = `${h.issuer}\0${m.h.issuer}`;
    const b = this.bindingAt.get(bk);
    if (b && (b.t < h.issued_at_ms || (b.t === h.issued_at_ms && b.seq <= h.seq))) return; // bound no later already
    const revs = this.revocations.get(h.issuer);
    this.revocations.delete(h.issuer);
    this.exposureSums.keysMoved();
    try {
      this.acceptChecked(envBytes, true);
    } catch (e) {
      if (e instanceof Reject) return; // refused for something else too: it binds nothing
      throw e;
    } finally {
      if (revs) this.revocations.set(h.issuer, revs);
      this.exposureSums.keysMoved();
    }
    this.bind(h.issuer, m.h.issuer);
    this.bindingAt.set(bk, { t: h.issued_at_ms, seq: h.seq });
    this.exposureSums.keysMoved();
    this.reweigh();
  }

  // `dry`: every check, nothing recorded (bindPastRevocation)
  acceptChecked(envBytes, dry) {
    const r = statelessOf(envBytes);
    const { h, body, bodyName } = r;
    const rec = { ...r, dhex: hex(r.digest) };
    const dhex = rec.dhex;
    // 22. issuer key: KEY-004 (unless witnessed before its revocation, KEY-009), then KEY-005
    const revs = this.revokedAt(h.issuer, h.issued_at_ms, this.authorityOf(h), h.seq, { t: h.issued_at_ms, seq: h.seq }); // KEY-011
    if (revs.length && !this.keptAsEvidence(rec)) {
      // KEY-012: a fork of the key's own revocation in its chain is refused as the fork, before KEY-004 --
      // unless a view of evidence takes it, witnessed before the revocation (KEY-009, KEY-013)
      for (const r of this.revocations.get(h.issuer)) {
        if (r.issuer !== h.issuer) continue;
        if (h.seq === r.seq && rec.dhex !== r.dhex) fail("EQUIVOCATION", "CHN-004", `seq ${h.seq}: the key's own revocation`);
        if (h.seq === r.seq + 1n && hex(h.prev) !== r.dhex) fail("CHAIN_BROKEN", "CHN-003", `prev at seq ${h.seq}: the key's own revocation`);
      }
      fail("KEY_REVOKED", "KEY-004", "issuer revoked");
    }
    // KEY-005 ends the key's chain, which the key's own revocation joins in no sparse view (KEY-013, ownRev): no
    // verifier refuses it above a rotation -- a view of evidence (F84), a live receiver or an escrow (F91)
    const ownRev = this.mode !== "complete" && bodyName === "key_revocation" && body.key === h.issuer;
    const rots = ownRev ? [] : this.rotatedBelow(h.issuer, h.seq);
    // KEY-012 for a KeyRotation: the next seq after one, not linking to it, is the fork it is, before KEY-005
    for (const r of rots) {
      if (h.seq === r.seq + 1n && hex(h.prev) !== r.dhex) fail("CHAIN_BROKEN", "CHN-003", `prev at seq ${h.seq}: the key's rotation`);
    }
    if (rots.length && !this.keptAsEvidence(rec)) fail("KEY_REVOKED", "KEY-005", "issuer rotated out");
    // 23. mandate binding
    let mandate = null;
    if (h.mandate.length) {
      const m = this.byDigest.get(hex(h.mandate));
      if (!m || m.bodyName !== "mandate") fail("MANDATE_UNKNOWN", "MND-002", "mandate not held");
      mandate = m.body;
      rec.principal = m.h.issuer;
      rec.mandateAt = { t: m.h.issued_at_ms, seq: m.h.seq }; // its place in the principal's chain (KEY-011 (c))
      // MND-012 (KEY-011 (c)); not under the issuer's own Mandate, which KEY-004 read above (MND-025)
      const prevs = m.h.issuer === h.issuer ? [] : this.revokedAt(m.h.issuer, h.issued_at_ms, null, null, rec.mandateAt);
      if (prevs.length && !this.keptAsEvidence(rec)) fail("KEY_REVOKED", "MND-012", "principal revoked");
      if (mandate.agent !== h.issuer) fail("MANDATE_VIOLATION", "MND-002", "mandate's agent is not the issuer");
    }
    // 24. mandate content
    if (mandate) this.checkMandateContent(mandate, h, body, bodyName);
    // KEY-010, at an escrow and its audit: the time compared is the escrow's Stamp, not the signer's
    // (a view of evidence holds one KEY-010 (c) names, disowned: KEY-009 (c))
    if (!this.evidenceView) this.checkRevokedAtStamp(rec);
    // 25. freshness
    if (this.now !== null) {
      const now = this.now;
      if (now + SKEW_MS < h.issued_at_ms) fail("ISSUED_IN_FUTURE", "TIM-003", "");
      if (h.not_before_ms !== 0n && now + SKEW_MS < h.not_before_ms) fail("NOT_YET_VALID", "TIM-002", "");
      if (now > h.expires_at_ms + SKEW_MS) fail("EXPIRED", "TIM-001", "");
    }
    // KEY-013: in a sparse view the key's own revocation joins no chain and holds no nonce (ownRev, above) --
    // checked against neither, it is taken though it forks the key's chain (the fork is the key's, ATT-013)
    // 26. replay
    if (this.byDigest.has(dhex)) fail("REPLAYED", "RPL-002", "digest already accepted");
    const nk = `${h.issuer}\0${hex(h.nonce)}`;
    if (this.nonces.has(nk) && !ownRev) fail("NONCE_REUSED", "RPL-001", "nonce reused");
    // 27. chain
    const chain = this.chains.get(h.issuer) ?? new Chain();
    if (!ownRev) this.checkChain(rec, chain);
    // 28. negotiation: returns a function that applies the transition once every check passed
    const apply = NEGOTIATION_BODIES.has(bodyName) ? this.checkNegotiation(rec) : null;
    // 29. exposure (MND-009, MND-010)
    // not for a statement NEG-018 supersedes, nor for a witnessed Accept (NEG-019), nor for one this view took
    // before and now takes again (reweigh): its caps were read where it was taken, and it stays taken (KEY-009
    // (d): a disowned Stamp's Accept is derived again unwitnessed, not refused on its caps -- finding F131)
    if (mandate && (bodyName === "offer" || bodyName === "counter" || bodyName === "accept") && !rec.superseded && !rec.witnessedAccept && !this.takingAgain)
      this.checkExposure(rec, mandate);
    // 30. reveal
    if (bodyName === "reveal") {
      const s = this.byDigest.get(hex(body.statement));
      const p = s && s.h.issuer === h.issuer ? proposalOf(s) : null;
      if (!p) fail("BODY_INVALID", "BDY-007", "reveal names no Offer or Counter of its issuer");
      const c = p.claims[Number(body.claim_index)];
      if (body.claim_index >= BigInt(p.claims.length) || c.$value !== "commitment") fail("BODY_INVALID", "BDY-007", "no committed claim there");
      if (!commitment(body.salt, body.amount).equals(c.commitment)) fail("COMMITMENT_MISMATCH", "BDY-007", "does not open");
    }
    // 31. attestation
    let attKey = null;
    if (bodyName === "attestation") {
      const o = this.byDigest.get(hex(body.offer));
      const a = this.byDigest.get(hex(body.accept));
      const ok =
        o && a && a.bodyName === "accept" && a.body.offer.equals(body.offer) && proposalOf(o) &&
        ((h.issuer === o.h.issuer && body.subject === a.h.issuer) || (h.issuer === a.h.issuer && body.subject === o.h.issuer));
      if (!ok) fail("ATTESTATION_INADMISSIBLE", "ATT-001", "no contract of the issuer with the subject");
      attKey = `${h.issuer}\0${hex(body.accept)}`;
      const seqHeld = this.attested.get(attKey);
      if (seqHeld !== undefined && h.seq > seqHeld) fail("ATTESTATION_INADMISSIBLE", "ATT-002", "a second attestation of the contract");
    }
    // KEY-004: revocation authority
    if (bodyName === "key_revocation") {
      if (!(h.issuer === body.key || this.bound.get(body.key)?.has(h.issuer)))
        fail("REVOCATION_UNAUTHORIZED", "KEY-004", "revoker is neither the key nor its principal");
    }
    if (dry) return rec;
    // accepted: record (SPEC 11.3)
    rec.env = envBytes;
    this.byDigest.set(dhex, rec);
    this.taken.push(envBytes);
    if (NEGOTIATION_BODIES.has(bodyName)) {
      const id = hex(h.negotiation_id);
      const of = this.heldByNegotiation.get(id);
      if (of) of.push(rec);
      else this.heldByNegotiation.set(id, [rec]);
      this.indexCiting(rec, id, (of ?? [rec]).length);
    }
    let reweigh = bodyName === "key_revocation" || bodyName === "key_rotation";
    if (!ownRev) {
      this.nonces.set(nk, dhex);
      chain.set(h.seq, { digest: dhex, prev: hex(h.prev), t: h.issued_at_ms });
    }
    this.chains.set(h.issuer, chain);
    if (rec.principal) {
      const bk = `${h.issuer}\0${rec.principal}`;
      this.bind(h.issuer, rec.principal);
      const b = this.bindingAt.get(bk);
      if (!b || h.issued_at_ms < b.t || (h.issued_at_ms === b.t && h.seq < b.seq)) {
        this.bindingAt.set(bk, { t: h.issued_at_ms, seq: h.seq });
        // KEY-011's reach reads bindings (KEY-009 (d)) -- a revoked key's only: one no revocation held names,
        // neither the key nor its principal, disowns nothing whatever it is bound to (as the Python
        // reference's _note_bound); a revocation of it heard later derives again anyway
        if (this.revocations.has(h.issuer) || this.revocations.has(rec.principal)) reweigh = true;
      }
    }
    if (bodyName === "mandate") {
      const gk = `${h.issuer}\0${body.agent}`;
      const held = this.mandatesByGrant.get(gk);
      if (held) held.set(dhex, rec);
      else this.mandatesByGrant.set(gk, new Map([[dhex, rec]]));
    }
    if (bodyName === "mandate" && body.succeeds !== "") {
      const l = this.handovers.get(body.succeeds) ?? [];
      l.push({ agent: body.agent, issuer: h.issuer });
      this.handovers.set(body.succeeds, l);
    }
    if (bodyName === "key_revocation") {
      const l = this.revocations.get(body.key) ?? [];
      l.push({ eff: body.effective_ms, dhex, issuer: h.issuer, issued: h.issued_at_ms, seq: h.seq, len: body.chain_length });
      this.revocations.set(body.key, l);
    }
    if (bodyName === "key_rotation") this.rotations.set(h.issuer, [...(this.rotations.get(h.issuer) ?? []), { seq: h.seq, dhex }]);
    // bindsOffererToNothing reads revocations, rotations and bindings (none held: it reads nothing of them)
    if (reweigh && (this.revocations.size > 0 || this.rotations.size > 0)) this.exposureSums.keysMoved();
    if (attKey) this.attested.set(attKey, h.seq);
    if (apply) this.applyTo(hex(h.negotiation_id), apply);
    if (bodyName === "stamp") {
      if (this.stampDisowned(rec)) this.unwitnessing.add(dhex); // KEY-009 (d): held, witnessing nothing
      else {
        this.recordStamp(rec);
        this.witnessCutOff(rec);
        if (this.heldOff.size) this.letInAgain(rec);
      }
    }
    if (this.handovers.size) this.rebuildHandedOver();
    // ESC-019, at an escrow and its audit (SPEC 17: a group of role escrow), once the Accept passed section 11
    if (!this.evidenceView && bodyName === "accept") this.checkClaimWindow(rec);
    if (reweigh && (this.revocations.size > 0 || this.rotations.size > 0)) this.reweigh();
    return rec;
  }

  // The Mandates held that `principal` issued for `agent` (its own included), in the order they came
  mandatesFrom(principal, agent) {
    return [...(this.mandatesByGrant.get(`${principal}\0${agent}`)?.values() ?? [])];
  }
  // ESC-019: the Accept of an Offer or Counter naming an escrow whose last deadline (either side) plus the
  // claim window is at or after, for either party, the end of its Mandates' validity held: the named
  // Mandate's valid_until_ms, extended by held Mandates of the same principal for the party's key that
  // allow the other party and whose [valid_from_ms, valid_until_ms) contains the end so far, then cut at
  // the earliest effective_ms of a held KeyRevocation of the key or of that principal.
  checkClaimWindow(acc) {
    const o = this.byDigest.get(hex(acc.body.offer));
    const p = o ? proposalOf(o) : null;
    if (!p || !p.terms || p.terms.escrow === "") return;
    const last = [...p.gives, ...p.wants].reduce((a, it) => (it.deadline_ms > a ? it.deadline_ms : a), 0n);
    if (last === 0n) return;
    const needed = last + CLAIM_WINDOW;
    for (const [rec, other] of [[o, acc.h.issuer], [acc, o.h.issuer]]) {
      const m = rec.h.mandate.length ? this.byDigest.get(hex(rec.h.mandate)) : null;
      if (!m || m.bodyName !== "mandate") continue;
      const key = rec.h.issuer;
      const principal = m.h.issuer;
      let end = m.body.valid_until_ms;
      const renewals = this.mandatesFrom(principal, key)
        .filter((x) => x.body.allowed_counterparties.length === 0 || x.body.allowed_counterparties.includes(other))
        .map((x) => [x.body.valid_from_ms, x.body.valid_until_ms])
        .sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      for (const [from, until] of renewals) if (from <= end && end < until) end = until;
      for (const [k, authority] of [[key, principal], [principal, null]]) // KEY-011
        for (const r of this.revocations.get(k) ?? []) {
          const t = this.reachOf(r, k, authority, authority === null ? { t: m.h.issued_at_ms, seq: m.h.seq } : null).t;
          if (t < end) end = t;
        }
      if (needed >= end)
        fail("MANDATE_VIOLATION", "ESC-019", `claim window ends at ${needed}, the validity of ${key.slice(0, 40)}'s Mandates held at ${end}`);
    }
    // ESC-020: the escrow's own validity -- the valid_until_ms of the Mandate its earliest held Stamp naming
    // the Accept cites (offline, that Stamp says which Mandate it signs under; none held: nothing to check;
    // of two in one millisecond, the lower seq of the escrow's chain, whichever was heard first),
    // cut at the earliest effective_ms of a held KeyRevocation of its key or of that Mandate's principal --
    // must end after the last ruling time: last deadline + claim window + response window (3600000 when 0)
    // + the clock tolerance (30000).
    const stamps = (this.stamps.get(acc.dhex) ?? []).filter((x) => this.stampActsFor(x.escrow, p.terms.escrow, x.t, x.seq));
    if (stamps.length === 0) return;
    const first = stamps.reduce((a, b) => (cmpStamp(b, a) < 0 ? b : a)); // KEY-009's order: in one ms, the lower seq (F116)
    const em = first.mandate.length ? this.byDigest.get(hex(first.mandate)) : null;
    if (!em || em.bodyName !== "mandate") return;
    const window = p.terms.response_window_ms === 0n ? 3600000n : p.terms.response_window_ms;
    const ruling = last + CLAIM_WINDOW + window + 30000n;
    let end = em.body.valid_until_ms;
    for (const [k, authority] of [[p.terms.escrow, em.h.issuer], [em.h.issuer, null]]) // KEY-011
      for (const r of this.revocations.get(k) ?? []) {
        const t = this.reachOf(r, k, authority, authority === null ? { t: em.h.issued_at_ms, seq: em.h.seq } : null).t;
        if (t < end) end = t;
      }
    if (ruling >= end)
      fail("MANDATE_VIOLATION", "ESC-020", `last ruling time ${ruling}, the escrow's validity ends at ${end}`);
  }

  recordStamp(rec) {
    rec.body.statements.forEach((d, pos) => {
      const k = hex(d);
      const l = this.stamps.get(k) ?? [];
      l.push({ escrow: rec.h.issuer, t: rec.h.issued_at_ms, seq: rec.h.seq, pos, mandate: rec.h.mandate, dhex: rec.dhex });
      this.stamps.set(k, l);
      // an arbitrated statement held without effect takes effect now (WIT-005)
      const s = this.byDigest.get(k);
      if (s && (s.bodyName === "breach_claim" || s.bodyName === "revoke")) {
        const n = this.negotiations.get(hex(s.h.negotiation_id));
        const c = n?.contract;
        if (c && c.digest === hex(s.body.contract) && this.stampActsFor(rec.h.issuer, c.escrow, rec.h.issued_at_ms, rec.h.seq)) this.makeEffective(n, c, s, rec.h.issued_at_ms);
        // one of a displaced contract, held in its shadow (SPEC 4.5, MND-023), moves that contract alone
        for (const x of n?.displaced ?? [])
          if (x.shadow && x.c.digest === hex(s.body.contract) && this.stampActsFor(rec.h.issuer, x.c.escrow, rec.h.issued_at_ms, rec.h.seq)) this.makeEffective(x.shadow, x.c, s, rec.h.issued_at_ms);
        this.exposureSums.touch(hex(s.h.negotiation_id)); // a Revoke in effect ends its contract (finishedAt)
      }
    });
  }
  stampCounts(c, s, t) {
    if (s.bodyName === "revoke") return true;
    const it = c.itemsOf(c.other(s.h.issuer))[Number(s.body.item_index)];
    return t > it.deadline_ms && t <= it.deadline_ms + CLAIM_WINDOW;
  }
  makeEffective(n, c, s, t) {
    const entry = s.bodyName === "breach_claim" ? c.claims.get(s.dhex) : c.revokes.get(s.dhex);
    if (!entry || !this.stampCounts(c, s, t)) return;
    if (entry.effectiveAt !== null) {
      if (t < entry.effectiveAt) entry.effectiveAt = t;
      return;
    }
    entry.effectiveAt = t;
    const ev = s.bodyName === "breach_claim" ? "BREACH_CLAIM" : "REVOKE";
    const to = TABLE.get(`${n.state} ${ev}`);
    if (to) this.setState(n, to);
  }
  setState(n, to) {
    n.state = to;
  }
  firstStamp(d, escrow) {
    const l = (this.stamps.get(d) ?? []).filter((s) => this.stampActsFor(s.escrow, escrow, s.t, s.seq));
    return l.length ? l.reduce((a, b) => (cmpStamp(b, a) < 0 ? b : a)) : null;
  }

  // Step 28 (SPEC 8.8). Returns the closure that records the transition.
  checkNegotiation(rec) {
    const { h, body, bodyName } = rec;
    const t = h.issued_at_ms;
    const id = hex(h.negotiation_id);
    const n = this.negotiations.get(id);
    const illegal = (req, d) => fail("ILLEGAL_TRANSITION", req, d);
    if (!n) {
      if (bodyName !== "offer") fail("UNKNOWN_NEGOTIATION", "NEG-002", "no such negotiation");
      if (h.audience === "" || h.audience === h.issuer) fail("WRONG_PARTY", "NEG-003", "an Offer to nobody or to its issuer");
      return () => {
        this.negotiations.set(id, new Negotiation(rec));
        this.pushOffer(rec);
      };
    }
    const inForce = n.stateAt(t);
    const table = (ev, req = "NEG-001") => {
      const to = TABLE.get(`${inForce} ${ev}`);
      if (!to) illegal(req, `${ev} in ${inForce}`);
      return to;
    };
    if (TRADE.has(bodyName)) {
      if (!n.isParty(h.issuer) || h.audience !== n.other(h.issuer)) fail("WRONG_PARTY", "NEG-003", "not the parties");
      if (bodyName === "offer") illegal("NEG-001", "an Offer in an open negotiation");
      const ev = bodyName.toUpperCase();
      const normal = (inForce === "PROPOSED" || inForce === "COUNTERED") && body.offer.equals(n.outstanding.digest);
      if (!normal) {
        // SPEC 8.9 first: NEG-018 (superseded: no event), then NEG-017 (a witnessed Accept)
        const ref = hex(body.offer);
        // a contract is witnessed when its escrow's Stamp of its Accept is held now (finding F10)
        const cw = n.contract ? this.witnessOf(n.contract.acceptRec, n.contract.offerRec) : null;
        const wc = cw ? n.contract : null;
        const O = n.line.find((o) => o.dhex === ref);
        // NEG-021 (d), (e) (findings F51, F55): or a Counter held off the line (n.offLine), in a branch that
        // parts from it at an offer of the line naming no escrow
        const path = !O && bodyName === "accept" ? offLinePath(n, ref) : null;
        const H = path ? path.at(-1) : undefined;
        const W = O ?? H;
        // NEG-017's conditions: an Accept of an offer O of the line, by O's audience, issued between O and
        // its expiry, witnessed by O's escrow; one that fails them is checked as any other (finding F8)
        const w =
          bodyName === "accept" && W && h.issuer === W.h.audience && W.h.issued_at_ms <= t && t <= W.h.expires_at_ms
            ? this.witnessOf(rec, W)
            : null;
        let takes = w !== null && (!wc || wc.acceptRec.dhex !== rec.dhex);
        if (takes && path) takes = branchPrevails(n, path, wc);
        if (takes && wc && wc.offerRec === O) {
          // two Accepts of one offer, both witnessed: the earlier Stamp (issued_at_ms), then the smaller digest
          takes = w.t < cw.t || (w.t === cw.t && Buffer.compare(rec.digest, wc.acceptRec.digest) < 0);
        }
        if (takes) {
          rec.witnessedAccept = true;
          return () => this.displace(n, W, rec, w, path);
        }
        // NEG-018: an answer to a superseded offer, or to the offer of a witnessed contract
        if (wc && ref === wc.offerRec.dhex && bodyName !== "accept") {
          // SPEC 4.5: taken superseded, an answer to the witnessed contract's offer still dates its end
          const commit = this.supersede(rec, n);
          return () => {
            commit();
            (wc.offerRec.earlyAnswers ??= []).push(rec);
          };
        }
        if (this.superseded.has(ref) || (wc && ref === wc.offerRec.dhex)) return this.supersede(rec, n);
        // NEG-021 (finding F47): of two answers of one key to one offer naming no escrow, the one lower in
        // the key's chain prevails, whichever came first; the other is superseded
        const raw = this.lowerThanAnswer(n, O, rec);
        // NEG-021 (d) (finding F51): no cut-back past a contract its escrow witnessed -- superseded instead
        const lower = raw === true && wc ? false : raw;
        if (lower === false) {
          // NEG-023 (finding F50): the contract its key's lower Accept formed binds its offerer to nothing now
          const c = n.contract;
          const commit = this.supersede(rec, n);
          if (!c || c.offerRec !== O || c.acceptRec.h.issuer !== h.issuer || escrowOf(O)) return commit;
          return () => {
            commit();
            c.answeredTwice = true;
          };
        }
        if (lower === true) return this.takeLowerAnswer(n, O, rec);
        // NEG-025 (finding F88): an Accept of an answered offer of the line naming an escrow, meeting NEG-017's
        // conditions but not witnessed yet, is held superseded until its escrow's Stamp orders the answers
        // (witnessCutOff then derives the negotiation again, the Accept taking precedence)
        if (bodyName === "accept" && O && escrowOf(O) && h.issuer === O.h.audience && O.h.issued_at_ms <= t && t <= O.h.expires_at_ms && w === null)
          return this.supersede(rec, n);
      }
      if (inForce === "PROPOSED" || inForce === "COUNTERED") {
        if (!body.offer.equals(n.outstanding.digest)) fail("STALE_REFERENCE", "NEG-005", "not the outstanding offer");
        if (t < n.outstanding.h.issued_at_ms) illegal("NEG-014", "issued before the offer it answers");
        const byOfferer = h.issuer === n.outstanding.h.issuer;
        if (bodyName === "withdraw" ? !byOfferer : byOfferer) fail("WRONG_PARTY", "NEG-004", "wrong side of the outstanding offer");
      }
      const to = table(ev, bodyName === "accept" ? (inForce === "ACCEPTED" || ENDED.has(inForce) && n.contract ? "NEG-006" : "NEG-007") : "NEG-001");
      let contract = null;
      if (bodyName === "accept") {
        contract = new Contract(n.outstanding, rec);
        const w = this.witnessOf(rec, n.outstanding);
        if (w) {
          contract.witnessed = true;
          contract.witness = w;
          rec.witnessedAccept = true;
        }
        const key = contract.proposal.exclusive_key;
        if (key.length && !w) {
          for (const m of this.holdersOf(contract.proposer, key)) {
            const c = m.contract;
            if (m !== n && contractLiveFor(m, rec) && c.proposer === contract.proposer && c.proposal.exclusive_key.equals(key) && !this.bindsOffererToNothing(c))
              fail("EXCLUSIVE_CONFLICT", "NEG-009", "exclusive_key held by a live contract");
          }
        }
      }
      return () => {
        if (inForce === "EXPIRED" && n.state !== "EXPIRED") this.setState(n, "EXPIRED");
        this.setState(n, to);
        if (bodyName === "counter") {
          n.outstanding = rec;
          n.line.push(rec);
        } else n.closer = rec;
        if (contract) {
          this.holdContract(n, contract);
          n.branch = contract.offerRec; // should its escrow witness it, another answer to its offer is superseded
        }
        if (bodyName === "counter" && h.mandate.length) this.pushOffer(rec);
      };
    }
    // NEG-018: a statement naming a superseded contract, a Receipt of a superseded Delivery
    if (bodyName === "receipt" ? this.superseded.has(hex(body.delivery)) : this.superseded.has(hex(body.contract))) {
      // SPEC 4.5, MND-023: applied to the displaced contract it names as it would have been, held before the
      // witnessed Accept (a shadow of the negotiation with that contract); one refused there moves nothing
      const ref = hex(bodyName === "receipt" ? body.delivery : body.contract);
      const sh = (n.displaced ?? []).find((x) => x.shadow && (x.c.digest === ref || x.c.deliveries.has(ref)));
      let later = null;
      if (sh) {
        try {
          later = this.checkContract(sh.shadow, rec);
        } catch (e) {
          if (!(e instanceof Reject)) throw e;
        }
      }
      const commit = this.supersede(rec);
      return () => {
        commit();
        if (later) later();
      };
    }
    return this.checkContract(n, rec);
  }
  // the contract statements of step 28, against n (a negotiation, or the shadow of a displaced contract)
  checkContract(n, rec) {
    const { h, body, bodyName } = rec;
    const t = h.issued_at_ms;
    const illegal = (req, d) => fail("ILLEGAL_TRANSITION", req, d);
    const inForce = n.stateAt(t);
    const table = (ev, req = "NEG-001") => {
      const to = TABLE.get(`${inForce} ${ev}`);
      if (!to) illegal(req, `${ev} in ${inForce}`);
      return to;
    };
    const c = n.contract;
    if (!c) illegal("NEG-001", "no contract");
    if (bodyName === "receipt") {
      const d = c.deliveries.get(hex(body.delivery));
      if (!d) fail("STALE_REFERENCE", "NEG-005", "not a Delivery of the contract");
      if (h.issuer !== c.other(d.h.issuer)) fail("WRONG_PARTY", "NEG-008", "not the receiving party");
      if (t < c.acceptRec.h.issued_at_ms) illegal("NEG-014", "before the Accept");
      const pair = `${d.h.issuer} ${d.body.item_index}`;
      const after = new Set(c.receipted).add(pair);
      const to = table(after.size === c.totalItems() ? "RECEIPT_COMPLETE" : "RECEIPT");
      return () => {
        c.receipted.add(pair);
        const held = c.receiptOf.get(pair);
        const late = (x) => (x.r.h.issued_at_ms > x.d.h.issued_at_ms ? x.r.h.issued_at_ms : x.d.h.issued_at_ms);
        if (!held || late({ r: rec, d }) < late(held)) c.receiptOf.set(pair, { r: rec, d });
        this.setState(n, to);
      };
    }
    if (hex(body.contract) !== c.digest) fail("STALE_REFERENCE", "NEG-005", "not the contract");
    if (ESCROW_BODIES.has(bodyName)) {
      if (!this.actsFor(h.issuer, c.escrow, h.issued_at_ms, h.seq)) fail("WRONG_PARTY", "NEG-008", "not the contract's escrow");
      if (bodyName === "ruling") {
        const dec = body.decision;
        if (dec === 3n) {
          if (c.lapsed) fail("BODY_INVALID", "CMT-006", "a second LAPSE");
          const due = t > c.lastDeadline() + CLAIM_WINDOW || (c.bondRequired() && t > c.cutoff);
          if (!due) illegal("CMT-006", "LAPSE not due");
          const to = table("LAPSE");
          return () => {
            c.lapsed = true;
            c.endings.push(rec);
            this.setState(n, to);
          };
        }
        const cl = c.claims.get(hex(body.claim));
        if (!cl || cl.effectiveAt === null) fail("STALE_REFERENCE", "CMT-002", "not an effective claim of the contract");
        if (cl.ruled === "uphold" || (cl.ruled === "dismiss" && dec === 2n)) fail("BODY_INVALID", "CMT-002", "claim ruled on before");
        const window = c.terms.response_window_ms === 0n ? 3600000n : c.terms.response_window_ms;
        const it = c.itemsOf(cl.accused)[Number(cl.rec.body.item_index)];
        if (t < cl.effectiveAt + window || t <= it.deadline_ms + 30000n) illegal("CMT-002", "ruling before its time");
        let ev;
        if (dec === 1n) ev = "UPHOLD";
        else if (c.pendingClaims(cl.rec.dhex).length) ev = "DISMISS_PENDING";
        else ev = c.receipted.size === c.totalItems() ? "DISMISS_COMPLETE" : "DISMISS";
        const to = table(ev);
        return () => {
          cl.ruled = dec === 1n ? "uphold" : "dismiss";
          if (dec === 1n) c.endings.push(rec);
          this.setState(n, to);
        };
      }
      if (!c.isParty(body.party)) fail("BODY_INVALID", "NEG-008", "party not a contract party");
      if (bodyName === "bond_lock") {
        if (c.locked.has(body.party) || body.amount !== c.bond.get(body.party)) fail("BODY_INVALID", "NEG-012", "not the party's unlocked bond");
        if (t > c.cutoff) illegal("CMT-010", "after the bonding cutoff");
        // BOND_COMPLETE: every required bond locked and none settled (NEG-012; finding F3)
        const complete = c.requiredParties().every((p) => (p === body.party || c.locked.has(p)) && !c.settled.has(p));
        const to = table(complete ? "BOND_COMPLETE" : "BOND_LOCK");
        return () => {
          c.locked.set(body.party, { amount: body.amount, t, rec });
          this.setState(n, to);
        };
      }
      const lock = c.locked.get(body.party);
      const settled = c.settled.get(body.party);
      const forfeitOverSettled = bodyName === "forfeit" && settled && settled !== "forfeit";
      if (!lock || (settled && !forfeitOverSettled) || body.amount !== lock.amount) fail("BODY_INVALID", "NEG-012", "not a locked, unsettled bond in full");
      if (bodyName === "forfeit") {
        if (body.beneficiary !== c.other(body.party)) fail("BODY_INVALID", "NEG-008", "beneficiary not the other party");
        const cause = hex(body.cause);
        const rv = c.revokes.get(cause);
        const cl = c.claims.get(cause);
        const ok =
          (rv && rv.effectiveAt !== null && rv.rec.h.issuer === body.party && c.terms.revocation?.forfeit_bond) ||
          (cl && cl.effectiveAt !== null && cl.accused === body.party && cl.ruled === "uphold");
        if (!ok) fail("BODY_INVALID", "CMT-002", "forfeit without cause");
      }
      const to = table(bodyName.toUpperCase());
      return () => {
        c.settled.set(body.party, bodyName);
        if (bodyName === "forfeit" || !c.settlement.has(body.party)) c.settlement.set(body.party, rec);
        this.setState(n, to);
      };
    }
    // party bodies
    if (!c.isParty(h.issuer)) fail("WRONG_PARTY", "NEG-008", "not a contract party");
    if (t < c.acceptRec.h.issued_at_ms) illegal("NEG-014", "before the Accept");
    if (bodyName === "delivery") {
      if (h.audience !== c.other(h.issuer)) fail("WRONG_PARTY", "NEG-008", "not addressed to the other party");
      if (body.item_index >= BigInt(c.itemsOf(h.issuer).length)) fail("BODY_INVALID", "NEG-008", "no such item");
      if (inForce === "ACCEPTED" && (!c.allLocked() || c.requiredParties().some((p) => c.settled.has(p))))
        illegal("NEG-012", "bonds not locked");
      const to = table("DELIVERY");
      return () => {
        c.deliveries.set(rec.dhex, rec);
        this.setState(n, to);
      };
    }
    if (bodyName === "breach_claim") {
      if (!c.escrow) illegal("CMT-005", "no escrow");
      const accused = c.other(h.issuer);
      const it = c.itemsOf(accused)[Number(body.item_index)];
      if (body.item_index >= BigInt(c.itemsOf(accused).length)) fail("BODY_INVALID", "NEG-008", "no such item");
      if (t <= it.deadline_ms) illegal("CMT-002", "claim at or before the deadline");
      if (c.bondRequired() && !c.requiredParties().every((p) => c.locked.has(p) && c.locked.get(p).t <= it.deadline_ms))
        illegal("CMT-009", "bonds not locked by the deadline");
      if (c.acceptRec.h.issued_at_ms > it.deadline_ms) illegal("CMT-011", "item due before the Accept");
      return () => {
        c.claims.set(rec.dhex, { rec, accused, effectiveAt: null, ruled: null });
        this.effectiveFromHeldStamps(n, c, rec);
      };
    }
    // revoke
    if (!c.terms.revocation?.allowed) fail("REVOCATION_NOT_ALLOWED", "NEG-010", "terms do not allow revocation");
    return () => {
      c.revokes.set(rec.dhex, { rec, effectiveAt: null });
      this.effectiveFromHeldStamps(n, c, rec);
    };
  }
  effectiveFromHeldStamps(n, c, rec) {
    const l = (this.stamps.get(rec.dhex) ?? []).filter((s) => this.stampActsFor(s.escrow, c.escrow, s.t, s.seq) && this.stampCounts(c, rec, s.t));
    if (!l.length) return;
    const first = l.reduce((a, b) => (cmpStamp(b, a) < 0 ? b : a));
    this.makeEffective(n, c, rec, first.t);
  }

  // NEG-017: the earliest Stamp held by O's escrow naming the Accept, at or before O's bonding cutoff.
  witnessOf(acceptRec, O) {
    const e = escrowOf(O);
    if (!e) return null;
    const s = this.firstStamp(acceptRec.dhex, e);
    return s && s.t <= O.h.expires_at_ms + 30000n ? s : null;
  }
  // NEG-018: accepted with no event; what names it is superseded in turn.
  supersede(rec, n = null) {
    rec.superseded = true;
    return () => {
      this.superseded.add(rec.dhex);
      if (n && rec.bodyName === "counter") (n.offLine ??= new Map()).set(rec.dhex, rec); // NEG-021 (d), (e)
      if (n) this.continueBranch(n, rec);
      if (n?.displaced) this.unbookAnsweredTwice(n, rec);
      const c = n?.contract;
      if (c && ANSWER_BODIES.has(rec.bodyName) && this.superseded.has(hex(rec.body.offer)) && this.witnessOf(c.acceptRec, c.offerRec))
        this.recountPastHigherAnswer(n, rec);
    };
  }
  // NEG-021 on a line a witnessed Accept cut off (finding F89): rec, taken superseded, answers an offer held
  // superseded and is lower in its key's chain than that key's other answer to it held superseded -- it is the
  // offer's answer there, the higher one moving nothing (no end of the offer, no contract): the cut-off line is
  // counted again as in a view that held both answers before the witnessed Accept (countCutOffLine)
  recountPastHigherAnswer(n, rec) {
    const ref = hex(rec.body.offer);
    const higher = (r) => r !== rec && this.superseded.has(r.dhex) && r.h.issuer === rec.h.issuer && ANSWER_BODIES.has(r.bodyName) && hex(r.body.offer) === ref && chainLower(rec, r);
    // F105: the key's answer highest in its chain says, unless it is not held superseded (the line's own)
    const top = this.topAnswer.get(`${n.id}\0${rec.h.issuer}\0${ref}`);
    if (!(top && (this.superseded.has(top.dhex) ? higher(top) : (this.citing.get(`${n.id}\0${ref}`)?.all ?? []).some(higher)))) return;
    const offer = this.byDigest.get(ref);
    if (offer?.earlyAnswers) offer.earlyAnswers = offer.earlyAnswers.filter((r) => !higher(r));
    if (n.displaced) n.displaced = n.displaced.filter((x) => !higher(x.c.acceptRec));
    this.countCutOffLine(n, n.contract.acceptRec);
  }
  // F105: rec, held (the count-th record of its negotiation id), in the index of records by what they cite, and
  // the key's highest answer to an offer
  indexCiting(rec, id, count) {
    rec.heldAt = count;
    const b = rec.body;
    const ref = rec.bodyName === "receipt" ? b.delivery : rec.bodyName === "offer" ? null : (b?.offer ?? b?.contract);
    if (!ref) return;
    const key = `${id}\0${hex(ref)}`;
    let at = this.citing.get(key);
    if (!at) this.citing.set(key, (at = { all: [], ranked: [] }));
    at.all.push(rec);
    if (!TRADE_ANSWERS.has(rec.bodyName)) return;
    let lo = 0, hi = at.ranked.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (chainLower(at.ranked[mid], rec)) lo = mid + 1;
      else hi = mid;
    }
    at.ranked.splice(lo, 0, rec);
    if (ANSWER_BODIES.has(rec.bodyName)) {
      const k = `${id}\0${rec.h.issuer}\0${hex(ref)}`, top = this.topAnswer.get(k);
      if (!top || chainLower(top, rec)) this.topAnswer.set(k, rec);
    }
  }
  // SPEC 4.5 (finding F105): the answer to tip held superseded, but acceptRec, the table would have taken -- of
  // two, the lower in its issuer's chain; one that cannot answer tip as the table takes it never will (it
  // depends on the two records alone): dropped from the ranking for good
  firstAnswerHeld(id, tip, acceptRec) {
    const ranked = this.citing.get(`${id}\0${tip.dhex}`)?.ranked ?? [];
    for (let i = 0; i < ranked.length; ) {
      const r = ranked[i];
      if (!answersAsTable(tip, r)) ranked.splice(i, 1);
      else if (r === acceptRec || !this.superseded.has(r.dhex)) i++;
      else return r;
    }
    return null;
  }
  // NEG-023 on a line a witnessed Accept cut off (finding F89): whether an answer of acceptRec's key to offerRec
  // (naming no escrow), other than acceptRec and issued in offerRec's life, is held superseded in negotiation id
  // -- then the contract of acceptRec binds its offerer to nothing there, whichever came first
  answeredTwiceHeld(id, offerRec, acceptRec) {
    if (escrowOf(offerRec)) return false;
    const t0 = offerRec.h.issued_at_ms, t1 = offerRec.h.expires_at_ms;
    return (this.heldByNegotiation.get(id) ?? []).some(
      (r) =>
        r !== acceptRec &&
        this.superseded.has(r.dhex) &&
        r.h.issuer === acceptRec.h.issuer &&
        ANSWER_BODIES.has(r.bodyName) &&
        hex(r.body.offer) === offerRec.dhex &&
        t0 <= r.h.issued_at_ms &&
        r.h.issued_at_ms <= t1,
    );
  }
  // NEG-023 (finding F89): rec, taken superseded, answers the offer of a contract kept displaced (naming no
  // escrow) by that contract's acceptor, higher in its chain than the contract's Accept and in the offer's
  // life: that contract binds its offerer to nothing from now on, as the recount of the cut-off line
  // (countCutOffLine) books it where rec came first
  unbookAnsweredTwice(n, rec) {
    if (!ANSWER_BODIES.has(rec.bodyName)) return;
    const ref = hex(rec.body.offer), t = rec.h.issued_at_ms;
    for (const { c } of n.displaced) {
      const o = c.offerRec;
      if (o.dhex !== ref || c.acceptRec === rec || c.acceptRec.h.issuer !== rec.h.issuer || escrowOf(o)) continue;
      if (chainLower(c.acceptRec, rec) && o.h.issued_at_ms <= t && t <= o.h.expires_at_ms) c.answeredTwice = true;
    }
  }
  // SPEC 4.5: taken superseded, a statement answering the open end of the line a witnessed Accept cut off
  // (n.branch: the offer it left outstanding, then each Counter taken so) counts as it would have, held
  // before that Accept: the answered offer until it, a Counter or an Accept's contract until that Accept.
  continueBranch(n, rec) {
    const tip = n.branch;
    if (!tip || !answersAsTable(tip, rec)) return;
    // held first it would have been refused on its issuer's caps or NEG-009: not held, it counts nowhere
    if (this.refusedHeldFirst(rec, tip, n)) return;
    (tip.earlyAnswers ??= []).push(rec);
    const by = n.contract.acceptRec;
    if (rec.bodyName === "accept") {
      const c = new Contract(tip, rec);
      (n.displaced ??= []).push({ c, by, shadow: shadowOf(n, c, "ACCEPTED") });
    }
    if (rec.bodyName === "counter") {
      rec.cutBy = by;
      rec.cutAnswer = null;
      if (rec.h.mandate.length) this.pushOffer(rec);
    }
    n.branch = rec.bodyName === "counter" ? rec : null;
  }
  // SPEC 4.5: whether a Counter or Accept continuing the cut-off line is one a verifier meeting it before the
  // witnessed Accept would have refused: MND-009, MND-010 at its own place, and for an Accept no escrow
  // witnessed, NEG-009 (the offer's issuer holds a live contract with its exclusive_key).
  refusedHeldFirst(rec, tip, n) {
    if (rec.bodyName !== "counter" && rec.bodyName !== "accept") return false;
    const m = rec.h.mandate.length ? this.byDigest.get(hex(rec.h.mandate)) : null;
    if (!m || m.bodyName !== "mandate") return false;
    try {
      if (rec.bodyName === "accept") {
        if (this.witnessOf(rec, tip)) return false; // NEG-019
        const key = proposalOf(tip).exclusive_key;
        for (const o of key.length ? this.holdersOf(tip.h.issuer, key) : []) {
          const c = o.contract;
          if (o !== n && c && contractLiveFor(o, rec) && c.proposer === tip.h.issuer && c.proposal.exclusive_key.equals(key) && !this.bindsOffererToNothing(c)) return true;
        }
      }
      this.checkExposure(rec, m.body);
    } catch (e) {
      if (e instanceof Reject) return true;
      throw e;
    }
    return false;
  }
  // NEG-017: cut the line back to O; the witnessed Accept's contract replaces whatever followed O.
  // SPEC 4.5, NEG-019: dated -- what it displaces counts as it did for a statement the Accept is not before.
  displace(n, O, acceptRec, w, path = null) {
    // a branch taken back passes the line it leaves -- a lower answer's (NEG-021 (d)) or another witnessed
    // contract's (e) --: no open end of it to continue (finding F62); the open end is the line the witnessed
    // Accept cut off after its offer (countCutOffLine, below: finding F74)
    if (!path) n.branch = n.state === "PROPOSED" || n.state === "COUNTERED" ? n.outstanding : null;
    // NEG-021 (d) (finding F62): the lower answer the witnessed contract passes, with what followed it, moves
    // nothing, as held after that contract -- each offer of it counts nowhere, a contract of it nowhere
    const passed = path !== null && !(n.contract && this.witnessOf(n.contract.acceptRec, n.contract.offerRec));
    if (path) {
      // NEG-021 (d), (e) (findings F51, F55): the branch held off the line is the line's again, from the offer
      // of the line it answers, in place of the answer held to it and what followed it (cut below with the
      // closer and any contract)
      const j = n.line.findIndex((o) => o.dhex === hex(path[0].body.offer));
      for (const later of n.line.slice(j + 1)) {
        later.cutBy = acceptRec;
        if (passed) later.cutAnswer = later; // answered at its own place: nowhere
        this.superseded.add(later.dhex);
        (n.offLine ??= new Map()).set(later.dhex, later);
      }
      n.line = [...n.line.slice(0, j + 1), ...path];
      for (const o of path) {
        n.offLine.delete(o.dhex);
        this.superseded.delete(o.dhex);
        o.superseded = false;
        // on the line again (finding F62): a Counter taken superseded, never counted, counts from its place
        // until its answer on the line, as held after the witnessed contract
        const held = this.offersByNegotiation.get(hex(o.h.negotiation_id)) ?? [];
        if (o.h.mandate.length && !held.includes(o)) this.pushOffer(o);
      }
      this.superseded.delete(acceptRec.dhex);
    }
    const i = n.line.indexOf(O);
    const answerOf = (j) => (j + 1 < n.line.length ? n.line[j + 1] : n.closer);
    // (a branch taken back: the closer answered the line it left, not O -- finding F62)
    if (answerOf(i) && !path) (O.earlyAnswers ??= []).push(answerOf(i));
    n.line.slice(i + 1).forEach((later, k) => {
      later.cutBy = acceptRec;
      later.cutAnswer = answerOf(i + 1 + k);
    });
    const by = passed && n.contract ? n.contract.acceptRec : acceptRec; // passed: displaced at its own Accept
    if (n.contract) (n.displaced ??= []).push({ c: n.contract, by, shadow: shadowOf(n, n.contract) });
    for (const later of n.line.slice(i + 1)) this.superseded.add(later.dhex);
    if (n.closer) this.superseded.add(n.closer.dhex);
    if (n.contract) {
      this.superseded.add(n.contract.digest);
      for (const d of n.contract.deliveries.keys()) this.superseded.add(d);
    }
    n.line = n.line.slice(0, i + 1);
    n.outstanding = O;
    n.closer = acceptRec;
    const c = new Contract(O, acceptRec);
    c.witnessed = true;
    c.witness = w;
    this.holdContract(n, c);
    n.state = "ACCEPTED";
    if (path) this.countCutOffLine(n, acceptRec);
  }
  // SPEC 4.5, NEG-021 (d) (finding F74): a branch taken back past a lower answer leaves the line its witnessed
  // Accept cut off after the offer it accepts counted as in a view that held that Accept before the lower
  // answer: the answer held to that offer as the table would have taken it (of two, the lower in its issuer's
  // chain), then the answer to that one, and so on -- the offer until its first answer, each Counter until its
  // answer or the witnessed Accept, an Accept's contract until the witnessed Accept -- not nowhere, as
  // statements answering an offer the lower answer had cut off, nor until the lower answer. Its open end is the
  // branch (SPEC 4.5); one a verifier meeting it first would have refused (MND-022) counts nowhere.
  countCutOffLine(n, acceptRec) {
    const id = hex(acceptRec.h.negotiation_id);
    const heldCiting = (ref) => (this.citing.get(`${id}\0${ref}`)?.all ?? []).filter((r) => r !== acceptRec && this.superseded.has(r.dhex));
    const counted = this.offersByNegotiation.get(id) ?? [];
    let tip = n.contract.offerRec;
    for (let k = 0, bound = this.heldByNegotiation.get(id)?.length ?? 0; tip && k < bound; k++) {
      const rec = this.firstAnswerHeld(id, tip, acceptRec);
      if (!rec || this.refusedHeldFirst(rec, tip, n)) break;
      // once (F105): a recount per answer pushed it again each time, and every exposure span read them all
      if (!tip.earlyAnswers?.includes(rec)) (tip.earlyAnswers ??= []).push(rec);
      if (rec.bodyName === "accept") {
        // NEG-023 (finding F89): its key's other answer to tip held beside it binds tip's issuer to nothing
        const twice = this.answeredTwiceHeld(id, tip, rec);
        const kept = (n.displaced ?? []).find((x) => x.c.acceptRec === rec);
        if (kept) {
          kept.by = acceptRec;
          if (twice) kept.c.answeredTwice = true;
        } else {
          const c = new Contract(tip, rec);
          c.answeredTwice = twice;
          const shadow = shadowOf(n, c, "ACCEPTED");
          (n.displaced ??= []).push({ c, by: acceptRec, shadow });
          // MND-023: the statements held of that contract, applied to it as a view that held it first did --
          // its contract statements, then the Receipts of its Deliveries, each in its issuer's time order
          const byTime = (a, b) => (a.h.issued_at_ms === b.h.issued_at_ms ? Number(a.h.seq - b.h.seq) : a.h.issued_at_ms < b.h.issued_at_ms ? -1 : 1);
          const inHeldOrder = (a, b) => a.heldAt - b.heldAt;
          const named = heldCiting(rec.dhex).filter((r) => r.body?.contract).sort(byTime);
          const receipts = named.flatMap((d) => heldCiting(d.dhex).filter((r) => r.bodyName === "receipt")).sort(inHeldOrder).sort(byTime);
          for (const r of [...named, ...receipts]) {
            try {
              this.checkContract(shadow, r)?.();
            } catch (e) {
              if (!(e instanceof Reject)) throw e;
            }
          }
        }
      }
      if (rec.bodyName === "counter") {
        rec.cutBy = acceptRec;
        rec.cutAnswer = null;
        if (rec.h.mandate.length && !counted.includes(rec)) this.pushOffer(rec);
      }
      tip = rec.bodyName === "counter" ? rec : null;
      this.exposureSums.touch(id); // moved: the next answer's refusedHeldFirst counts from here
    }
    n.branch = tip;
  }

  // NEG-021: whether rec, a Counter, Accept or Reject of the offer O of the line (naming no escrow, by its
  // audience, issued within O's life), is lower (true) or higher (false) in its issuer's chain -- by seq, then
  // issued_at_ms, then digest -- than the answer held to O by the same key; null when the rule does not apply.
  lowerThanAnswer(n, O, rec) {
    const { h, bodyName } = rec;
    if (!O || (bodyName !== "counter" && bodyName !== "accept" && bodyName !== "reject")) return null;
    const t = h.issued_at_ms;
    if (h.issuer !== O.h.audience || !(O.h.issued_at_ms <= t && t <= O.h.expires_at_ms)) return null;
    if (escrowOf(O)) return this.takenByEscrow(n, O, rec); // its escrow orders the answers it takes (ESC-014)
    const i = n.line.indexOf(O);
    const a = i + 1 < n.line.length ? n.line[i + 1] : n.closer;
    if (!a || a.h.issuer !== h.issuer || a.dhex === rec.dhex) return null;
    return chainLower(rec, a);
  }
  // NEG-026 (finding F98): rec, a Counter or Reject of O (naming escrow E), where the line's answer to O is the
  // contract's Accept, which E has not witnessed: true when E stamped rec -- E took it and never takes that
  // Accept -- and rec takes the Accept's place (cut back, as NEG-021's lower answer); false, held superseded until
  // E's Stamp of it comes (witnessCutOff then derives the negotiation again); null when the rule does not apply
  takenByEscrow(n, O, rec) {
    const c = n.contract;
    if (rec.bodyName === "accept" || !c || c.offerRec !== O || this.witnessOf(c.acceptRec, O)) return null;
    return this.firstStamp(rec.dhex, escrowOf(O)) !== null;
  }
  // NEG-021: rec takes the place of the higher answer to O: the line is cut back to O (what followed it
  // superseded, a contract displaced, dated by rec -- SPEC 4.5), then rec is O's answer, as the table says.
  takeLowerAnswer(n, O, rec) {
    const { h, bodyName } = rec;
    const i = n.line.indexOf(O);
    const to = TABLE.get(`${i === 0 ? "PROPOSED" : "COUNTERED"} ${bodyName.toUpperCase()}`);
    let contract = null;
    if (bodyName === "accept") {
      // NEG-023 (finding F50): the answer it displaces is held beside it, so its contract binds the offerer to
      // nothing -- no cap, no exclusive_key -- and NEG-009 is no ground to refuse it (bindsOffererToNothing)
      contract = new Contract(O, rec);
      contract.answeredTwice = true;
      const key = contract.proposal.exclusive_key;
      for (const m of key.length && !this.bindsOffererToNothing(contract) ? this.holdersOf(contract.proposer, key) : []) {
        const c = m.contract;
        if (m !== n && contractLiveFor(m, rec) && c.proposer === contract.proposer && c.proposal.exclusive_key.equals(key) && !this.bindsOffererToNothing(c))
          fail("EXCLUSIVE_CONFLICT", "NEG-009", "exclusive_key held by a live contract");
      }
    }
    return () => {
      for (const later of n.line.slice(i + 1)) {
        later.cutBy = rec;
        later.cutAnswer = rec;
        this.superseded.add(later.dhex);
      }
      if (n.closer) this.superseded.add(n.closer.dhex);
      if (n.contract) {
        (n.displaced ??= []).push({ c: n.contract, by: rec, shadow: shadowOf(n, n.contract) });
        this.superseded.add(n.contract.digest);
        for (const d of n.contract.deliveries.keys()) this.superseded.add(d);
      }
      for (const later of n.line.slice(i + 1)) (n.offLine ??= new Map()).set(later.dhex, later); // NEG-021 (d)
      n.line = n.line.slice(0, i + 1);
      n.closer = null;
      n.contract = null;
      n.branch = null;
      this.setState(n, to);
      if (bodyName === "counter") {
        n.outstanding = rec;
        n.line.push(rec);
      } else {
        n.outstanding = O;
        n.closer = rec;
      }
      if (contract) {
        this.holdContract(n, contract);
        n.branch = O;
      }
      if (bodyName === "counter" && h.mandate.length) this.pushOffer(rec);
    };
  }

  // NEG-009: `c` is negotiation n's contract now -- indexed by its offerer and exclusive_key (holdersOf)
  holdContract(n, c) {
    n.contract = c;
    const key = c.proposal.exclusive_key;
    if (!key.length) return;
    const k = `${c.proposer}\0${hex(key)}`;
    const ids = this.exclusiveHolders.get(k);
    if (ids) ids.add(n.id);
    else this.exclusiveHolders.set(k, new Set([n.id]));
  }
  // NEG-009: the negotiations held in which `offerer` formed a contract naming exclusive_key `key` -- those whose
  // contract holds it now among them (a contract displaced or cut back since stays listed: each caller asks the
  // negotiation's contract itself), never one of another key
  holdersOf(offerer, key) {
    const ids = this.exclusiveHolders.get(`${offerer}\0${hex(key)}`);
    return ids ? [...ids].map((id) => this.negotiations.get(id)).filter(Boolean) : [];
  }

  // KEY-009 (c) with MND-010 and NEG-009, a view of evidence: a contract whose Accept no escrow can witness (the
  // statement it accepts names none) and that a revocation or rotation held disowns binds its offerer to
  // nothing -- it counts toward none of the offerer's caps and holds none of its exclusive_keys -- whichever
  // the view heard first, the Accept or what disowns it (tests/test_attack23_thief_negotiation.py).
  // NEG-023 (finding F50): so does one whose acceptor's key signed another answer to the same offer naming no
  // escrow, held beside it (c.answeredTwice), in every verifier (tests/test_attack24_exclusive_reveal.py).
  bindsOffererToNothing(c) {
    if (c.answeredTwice) return true;
    return this.evidenceView && !escrowOf(c.offerRec) && disowned(this, c.acceptRec);
  }

  pushOffer(rec) {
    const id = hex(rec.h.negotiation_id);
    const l = this.offersByNegotiation.get(id);
    if (l) l.push(rec);
    else this.offersByNegotiation.set(id, [rec]);
  }

  // SPEC 4.5: what negotiation `id` adds to its parties' exposures, each entry under one Mandate, as a span
  // (ExposureSums): an offer from itself -- it counts only for a statement it is before (isBefore) -- to its
  // answer or expiry; its contract, and each a witnessed Accept displaced, from its Accept to its ending, its
  // displacement or its claim window's end (kind "open": toward outstanding), and, in the period it was formed
  // in, to its displacement ("formed"). `counts(rec)`: whether it counts for the statement rec. `disownable`:
  // a contract of an offer naming no escrow, whose offerer a revocation held may bind to nothing.
  exposureSpans(id) {
    const entries = [];
    let disownable = false;
    const n = this.negotiations.get(id);
    if (!n) return { entries, disownable };
    for (const o of this.offersByNegotiation.get(id) ?? []) {
      if (!o.h.mandate.length) continue;
      // Its answer: the next offer of the line (a Counter) or the statement that closed it; an offer a
      // witnessed Accept cut off the line counts nowhere (NEG-017). The answer is dated: it frees the offer
      // only for a statement it is before. An Accept is dated too: the contract starts at it, and for a
      // statement the Accept is not before, the offer counts instead, in total and in every period.
      // A witnessed Accept is dated too (NEG-019): an offer it cut off the line counts until that Accept or
      // its own answer, the offer it accepts until its first answer held.
      const i = n.line.indexOf(o);
      let ends;
      if (i >= 0) ends = [i + 1 < n.line.length ? n.line[i + 1] : n.closer];
      else if (o.cutBy) ends = [o.cutBy, o.cutAnswer];
      else continue;
      ends = [...ends, ...(o.earlyAnswers ?? [])].filter(Boolean);
      const expires = o.h.expires_at_ms;
      const hi = ends.reduce((a, x) => (x.h.issued_at_ms < a ? x.h.issued_at_ms : a), expires + 1n);
      const counts = (rec) => isBefore(o, rec) && expires >= rec.h.issued_at_ms && !ends.some((x) => isBefore(x, rec));
      entries.push({ kind: "offer", mhex: hex(o.h.mandate), lo: o.h.issued_at_ms, hi, expires, value: offerValue(proposalOf(o), "issuer"), counts });
    }
    // the contract, and those a witnessed Accept displaced, each for a statement that Accept is not before
    for (const { c, by } of [{ c: n.contract, by: null }, ...(n.displaced ?? [])]) {
      if (!c) continue;
      const byMandate = new Map(); // a contract under one Mandate on both sides counts as its acceptor's
      const offerer = hex(c.offerRec.h.mandate), acceptor = hex(c.acceptRec.h.mandate);
      if (offerer && !escrowOf(c.offerRec)) disownable = true;
      if (offerer && !this.bindsOffererToNothing(c)) byMandate.set(offerer, offerValue(c.proposal, "issuer"));
      if (acceptor) byMandate.set(acceptor, offerValue(c.proposal, "audience"));
      const started = (rec) => isBefore(c.acceptRec, rec) && !(by && isBefore(by, rec));
      const last = c.lastDeadline() + CLAIM_WINDOW;
      const open = (rec) => started(rec) && contractLiveFor({ contract: c }, rec) && last >= rec.h.issued_at_ms;
      const lo = c.acceptRec.h.issued_at_ms;
      const f = finishedAt({ contract: c }, c.proposer);
      let hi = by ? by.h.issued_at_ms : null;
      for (const x of [last + 1n, f?.[0]]) if (x !== undefined && (hi === null || x < hi)) hi = x;
      for (const [mhex, value] of byMandate) {
        entries.push({ kind: "open", mhex, lo, hi, value, counts: open });
        entries.push({ kind: "formed", mhex, lo, hi: by ? by.h.issued_at_ms : null, value, counts: started });
      }
    }
    return { entries, disownable };
  }

  checkExposure(rec, m) {
    const { h, body, bodyName } = rec;
    const t = h.issued_at_ms;
    let v;
    if (bodyName === "accept") {
      const o = this.byDigest.get(hex(body.offer));
      v = offerValue(proposalOf(o), "audience");
    } else v = offerValue(bodyName === "offer" ? body : body.proposal, "issuer");
    const x = this.exposureSums.of(this, hex(h.mandate));
    const offers = x.offers.sum(rec);
    const outstanding = offers + x.contracts.sum(rec);
    const periods = [];
    const audit = () => EXPOSURE.audit && this.exposureSums.audit(this, rec, { outstanding, periods });
    if (outstanding + v > m.max_outstanding) {
      audit();
      fail("MANDATE_VIOLATION", "MND-010", `outstanding ${outstanding} + ${v} > ${m.max_outstanding}`);
    }
    // budget periods the statement charges: the first, t's, holds every offer counted (issued at or before t,
    // expiring at or after it); a later one, those of them living into it from before it (MandateSums.later)
    const P = m.period_ms;
    const periodOf = (x) => (P === 0n ? 0n : (x - m.valid_from_ms) / P);
    const ks = [];
    if (bodyName === "accept") ks.push(periodOf(t));
    else for (let k = periodOf(t); k <= periodOf(h.expires_at_ms); k++) ks.push(k);
    for (const k of ks) {
      const now = P === 0n || m.valid_from_ms + k * P <= t;
      const committed = x.sumIn(x.formed, k, rec, "sum") + (now ? offers : x.sumIn(x.later, k, rec, "sum"));
      periods.push([k, now ? "now" : "later", committed]);
      if (committed + v > m.budget_per_period) {
        audit();
        fail("MANDATE_VIOLATION", "MND-009", `period ${k}: ${committed} + ${v} > ${m.budget_per_period}`);
      }
    }
    audit();
  }

  checkMandateContent(m, h, body, bodyName) {
    const viol = (req, d) => fail("MANDATE_VIOLATION", req, d);
    if (!(m.valid_from_ms <= h.issued_at_ms && h.issued_at_ms < m.valid_until_ms)) viol("MND-003", "outside validity");
    if (m.allowed_counterparties.length && h.audience !== "" && !m.allowed_counterparties.includes(h.audience))
      viol("MND-005", "counterparty not allowed");
    let proposal = null, value = null;
    if (bodyName === "offer") [proposal, value] = [body, offerValue(body, "issuer")];
    if (bodyName === "counter") [proposal, value] = [body.proposal, offerValue(body.proposal, "issuer")];
    if (bodyName === "accept") {
      const o = this.byDigest.get(hex(body.offer));
      if (o && (o.bodyName === "offer" || o.bodyName === "counter")) {
        proposal = o.bodyName === "offer" ? o.body : o.body.proposal;
        value = offerValue(proposal, "audience");
      }
    }
    if (proposal) {
      const items = [...proposal.gives, ...proposal.wants];
      if (m.allowed_categories.length && !items.every((it) => m.allowed_categories.includes(it.category)))
        viol("MND-006", "category not allowed");
      if (proposal.terms.currency !== m.currency) viol("MND-007", "currency");
      if (!(m.min_per_deal <= value && value <= m.max_per_deal)) viol("MND-004", "per-deal value");
      const end = m.execution_window_end_ms !== 0n ? m.execution_window_end_ms : m.valid_until_ms;
      if (!items.every((it) => it.deadline_ms <= end)) viol("MND-008", "deadline past the execution window");
    }
    if ((bodyName === "offer" || bodyName === "counter") && m.budget_per_period > 0n && m.period_ms > 0n)
      if (h.expires_at_ms - h.issued_at_ms > m.period_ms) viol("MND-013", "offer lives longer than a period");
  }
}

// ---------------------------------------------------------------------------------------------
// Scope. LAYERS is what this verifier implements; LEFT_OUT the requirement IDs whose checks it leaves
// out (none, now). A vector citing a left-out requirement is not decided: it is reported ("agree" when the
// verdict matches all the same, else "uncovered"), never counted as a disagreement. Every other vector is
// decided: its verdict must be the vector's, code and index.

export const LAYERS = [
  "steps 1-20 (SPEC 11.1): size, envelope profile (6.2.1), payload type, did:key (3.2), strict Ed25519 (5.3), statement profile, header, NEG-013, body rules",
  "step 22: KEY-004, KEY-005 (with KEY-009: an auditor takes a statement witnessed before its revocation or rotation; an escrow's audit does not)",
  "KEY-010 after step 24, for an escrow's audit (group role escrow): the escrow's Stamp compared with a revocation's effective_ms; in a view (role auditor), only against a revocation the escrow stamped first (KEY-010 (c))",
  "ESC-019 and ESC-020 after section 11, for an escrow's audit (group role escrow): each Accept of an Offer or Counter naming an escrow, its claim window within both parties' Mandates held, its last ruling time within the Mandate the escrow's Stamp of it cites",
  "steps 23-24: MND-002, MND-012, MND-003..MND-008, MND-013",
  "step 25: TIM-001..TIM-003 at now_ms (skew 30000)",
  "step 26: RPL-002, RPL-001",
  "step 27: CHN-004, CHN-003, CHN-005, CHN-002 (complete mode), CHN-007",
  "step 28: the state machine of SPEC 8 (8.4 table, 8.7 time, 8.8 order, 8.9 witnessed Accept: NEG-001..NEG-019, CMT-002/005/006/009/010/011, WIT-005)",
  "step 29: exposure of SPEC 4.5 (MND-009, MND-010)",
  "steps 30-31: BDY-007 reveal, ATT-001, ATT-002; KEY-004/KEY-007 revocation authority",
  "equivocation and answer proofs (6.8, ATT-012, ATT-022) from DSSE JSON (5.5), and those a transcript shows (its Verifier's forks, faulty(): ATT-013)",
  "reputation aggregation of SPEC 10.3 (ATT-003, ATT-008..ATT-010, ATT-016's vouched stake) within ATT-021's tolerance: reputation.json",
  "ratings of SPEC 10.2 (ATT-002, ATT-004..ATT-007, ATT-020 by KEY-009's definition) from evidence bundles: ratings.json",
];
const LEFT_OUT = /^$/;
const ROLES = ["auditor", "escrow"]; // SPEC 17: the verifier a group runs

export function runVector(t, mode, role = "auditor") {
  // ATT-013 (d), F114: a test may state the escrows its view trusts and what the view holds faulty after it
  const v = new Verifier({ mode, nowMs: t.now_ms, role, trustedEscrows: t.trusted_escrows ?? null });
  let got = { result: "valid" };
  for (let i = 0; i < t.envelopes.length; i++) {
    try {
      v.accept(Buffer.from(t.envelopes[i], "base64"));
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      got = { result: "invalid", error: e.code, failedIndex: i, requirement: e.requirement, detail: e.detail };
      break;
    }
  }
  const decided = !t.requirements.some((r) => LEFT_OUT.test(r));
  if (t.faulty || t.report_faulty) got = { ...got, faulty: v.faulty() };
  const sameFaulty = !t.faulty || JSON.stringify(got.faulty) === JSON.stringify([...t.faulty].sort());
  const same = sameFaulty && got.result === t.result && (t.result === "valid" || (got.error === t.error && got.failedIndex === t.failedIndex));
  let verdict = same ? "agree" : decided ? "disagree" : "uncovered";
  // wire.json: the decoder alone on the test's `wire` member
  if (t.wire && verdict !== "disagree") {
    const type = t.wire.message.replace(/^a2acoop\.v1\./, "");
    const r = decode(type, Buffer.from(t.wire.hex, "hex"), { allowUnknown: type !== "Envelope" });
    const failCode = type === "Envelope" ? "MALFORMED_ENVELOPE" : null;
    const res = r.malformed ? failCode ?? "MALFORMED_STATEMENT" : r.noncanonical ? failCode ?? "NONCANONICAL_ENCODING" : "canonical";
    if (res !== t.wire.result) {
      verdict = "disagree";
      got = { ...got, wire: res };
    }
  }
  return { verdict, decided, got };
}

// Equivocation proofs (SPEC 6.8) in DSSE JSON (SPEC 5.5).
function envelopeFromJson(j) {
  const keys = (o) => Object.keys(o).sort().join(",");
  if (keys(j) !== "payload,payloadType,signatures" || j.signatures.length !== 1 || keys(j.signatures[0]) !== "keyid,sig")
    fail("MALFORMED_ENVELOPE", "ENV-010", "JSON envelope members");
  const b64 = (s) => {
    const b = Buffer.from(s, "base64");
    if (b.toString("base64") !== s) fail("MALFORMED_ENVELOPE", "ENV-010", "non-canonical base64");
    return b;
  };
  // encode the binary Envelope canonically, then verify it like any other
  const varint = (n) => {
    const out = [];
    let v = BigInt(n);
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      out.push(byte);
    } while (v);
    return Buffer.from(out);
  };
  const fld = (num, bytes) => (bytes.length ? Buffer.concat([varint((num << 3) | 2), varint(bytes.length), bytes]) : Buffer.alloc(0));
  const sig = Buffer.concat([fld(1, Buffer.from(j.signatures[0].keyid, "utf8")), fld(2, b64(j.signatures[0].sig))]);
  return Buffer.concat([fld(1, b64(j.payload)), fld(2, Buffer.from(j.payloadType, "utf8")), Buffer.concat([varint((3 << 3) | 2), varint(sig.length), sig])]);
}
// The DSSE JSON form (SPEC 5.5) of envelope bytes that pass steps 1-20, for a proof written out
function envelopeToJson(envBytes) {
  const { env } = verifyStateless(envBytes);
  const b64 = (b) => Buffer.from(b).toString("base64");
  return { payload: b64(env.payload), payloadType: env.payload_type, signatures: env.signatures.map((x) => ({ keyid: x.keyid, sig: b64(x.sig) })) };
}

// A transcript (what `a2a-coop export` writes: {"envelopes": [...], "now_ms"?, "mode"?, "trusted_escrows"?}, or a
// bare list of DSSE JSON envelopes or base64 strings) verified by one fresh view of evidence, stopping at the
// first refusal as `a2a-coop verify` does: its verdict, and the fork and answer proofs it holds (ATT-012,
// ATT-022) -- each in the equivocation-proof file's form -- with the keys and principals they convict (ATT-013),
// each conviction with the escrows whose Stamps it rests on. The view reads "witnessed before" from the Stamps
// of the escrows its operator names (`trustEscrows`, ATT-013 (d)), else every escrow's; the transcript's own
// `trusted_escrows` is shown, and applied only when the operator says so (`trustStated`): whoever hands the
// transcript over chose it, and a narrower set spares (F121). A vector's `trusted_escrows` is its test's input
// instead, read by runVector.
export function verifyTranscript(doc, { trustEscrows = null, trustStated = false } = {}) {
  const list = Array.isArray(doc) ? doc : doc.envelopes;
  const stated = Array.isArray(doc) ? null : doc.trusted_escrows ?? null;
  const [trusted, by] = trustEscrows ? [trustEscrows, "operator"] : trustStated && stated ? [stated, "transcript"] : [null, null];
  const v = new Verifier({ mode: doc.mode ?? "sparse", nowMs: doc.now_ms ?? null, trustedEscrows: trusted });
  let got = { result: "valid" };
  for (let i = 0; i < list.length; i++) {
    try {
      v.accept(typeof list[i] === "string" ? Buffer.from(list[i], "base64") : envelopeFromJson(list[i]));
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      got = { result: "invalid", error: e.code, failedIndex: i, requirement: e.requirement, detail: e.detail };
      break;
    }
  }
  const proofs = [...v.forks].map(([issuer, p]) => ({
    schema: "a2a-coop-equivocation-proof/1", requirements: [p.kind, "ATT-012"], issuer, first: envelopeToJson(p.first), second: envelopeToJson(p.second),
  }));
  const sorted = (set) => (set === null ? null : [...new Set(set)].sort());
  return {
    ...got, statements: v.taken.length, proofs, faulty: v.faulty(), convictions: v.convictions(),
    trusted_escrows: sorted(trusted), trusted_by: by, stated_trusted_escrows: sorted(stated),
  };
}

export function checkEquivocationProof(doc) {
  const why = whyNoProof(doc.first, doc.second);
  if (why !== null) return why;
  return verifyStateless(envelopeFromJson(doc.first)).h.issuer === doc.issuer ? null : "issuers differ";
}

// Why two DSSE JSON envelopes are no equivocation proof (CHN-003, CHN-004) or answer proof (ATT-022), or
// null when they are one; a Reject when an envelope does not verify. Also read by equivocation-non-proofs.json,
// whose pairs must each be refused.
export function whyNoProof(first, second) {
  const a = verifyStateless(envelopeFromJson(first));
  const b = verifyStateless(envelopeFromJson(second));
  if (a.h.issuer !== b.h.issuer) return "issuers differ";
  if (a.digest.equals(b.digest)) return "same statement";
  return proofKind(a, b) ? null : "neither one seq, a broken link, time running backwards nor two answers to one statement";
}

// ATT-012: the rule two statements of one issuer (verifyStateless's results) break, or null: one seq (CHN-004),
// a broken link at n, n + 1 (CHN-003), time running backwards along the chain (CHN-005, finding F58), or two
// answers (Counter, Accept, Reject) to one statement at any seqs (ATT-022, finding F49)
// ATT-013 (c) (finding F76): a proof's rank -- its later statement's issued_at_ms, then its two digests
// sorted (lowercase hex of equal length: bytewise) -- the first kept of two against one key
function pairRank(a, b) {
  const t = a.h.issued_at_ms > b.h.issued_at_ms ? a.h.issued_at_ms : b.h.issued_at_ms;
  return a.dhex < b.dhex ? [t, a.dhex, b.dhex] : [t, b.dhex, a.dhex];
}
function rankBefore(x, y) {
  if (x[0] !== y[0]) return x[0] < y[0];
  return x[1] !== y[1] ? x[1] < y[1] : x[2] < y[2];
}

function proofKind(a, b) {
  if (a.h.issuer !== b.h.issuer || a.digest.equals(b.digest)) return null;
  if (a.h.seq === b.h.seq) return "CHN-004";
  const [lo, hi] = a.h.seq < b.h.seq ? [a, b] : [b, a];
  if (hi.h.seq === lo.h.seq + 1n && !hi.h.prev.equals(lo.digest)) return "CHN-003";
  if (lo.h.issued_at_ms > hi.h.issued_at_ms) return "CHN-005";
  if (ANSWER_BODIES.has(a.bodyName) && ANSWER_BODIES.has(b.bodyName) && a.body.offer.equals(b.body.offer)) return "ATT-022";
  return null;
}

// conformance/vectors/equivocation-non-proofs.json: a test agrees when the pair is refused as no proof in
// both orders (an envelope that does not verify is a disagreement: the file's envelopes are valid).
function checkNonProof(t) {
  for (const [x, y] of [[t.first, t.second], [t.second, t.first]]) {
    let why;
    try {
      why = whyNoProof(x, y);
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      return `an envelope does not verify: ${e.message}`;
    }
    if (why === null) return "taken as a proof";
  }
  return null;
}
const ANSWER_BODIES = new Set(["counter", "accept", "reject"]);
const TRADE_ANSWERS = new Set(["counter", "accept", "reject", "withdraw"]);

// ---------------------------------------------------------------------------------------------
// Reputation aggregation (SPEC 10.3: ATT-003, ATT-008..ATT-010, ATT-016's vouched stake, ATT-021), for
// conformance/vectors/reputation.json: ratings, seeds, faulty principals and now -> each principal's
// trust, score, uncertainty, vouched stake, and the two integers n+ and iterations. Written from the
// section's text: binary64 throughout (JS numbers), each formula evaluated as written.

const REP = { a: 0.5, H: 7776000000, K: 1, tolerance: 1e-9, maxIterations: 1000 };

// The binary64 number nearest the exact sum of `xs`, in any order (ATT-003): Shewchuk's exact partials and
// the round-half-even correction of the last two, as CPython's math.fsum (finite inputs only).
export function exactSum(xs) {
  const partials = [];
  for (let x of xs) {
    let i = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n], lo = 0;
  while (n > 0) {
    const x = hi, y = partials[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2, x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

// ATT-003's decay: 2^-q * 2^(-r/H), q and r the quotient and remainder of the age by H (integers < 2^53 here,
// so exact), 2^(-r/H) rounded once and 2^-q applied exactly: one half-life older weighs exactly half.
function decay(ageMs) {
  const age = Math.max(0, ageMs);
  let q = Math.floor(age / REP.H), r = age - q * REP.H;
  if (r < 0) { q -= 1; r += REP.H; } else if (r >= REP.H) { q += 1; r -= REP.H; } // prettier-ignore
  return q > 1100 ? 0 : 2 ** -(r / REP.H) * 2 ** -q;
}

export function aggregateView({ ratings, seeds, faulty, nowMs }) {
  const bad = new Set(faulty);
  // ATT-003: per ordered pair of distinct principals, neither faulty, over ratings of stake > 0; G, B, W each
  // the correctly rounded sum of its terms
  const pairs = new Map(); // "R\u0000S" -> { R, S, g: [terms], b: [...], w: [...] }
  const names = new Set([...seeds, ...faulty]);
  for (const r of ratings) {
    names.add(r.rater);
    names.add(r.subject);
    if (!(r.stake > 0) || r.rater === r.subject || bad.has(r.rater) || bad.has(r.subject)) continue;
    const d = decay(nowMs - r.settled_ms);
    const key = `${r.rater}\u0000${r.subject}`;
    const p = pairs.get(key) ?? { R: r.rater, S: r.subject, g: [], b: [], w: [] };
    p.g.push(d * r.score);
    p.b.push(d * (1 - r.score));
    p.w.push(d * r.stake);
    pairs.set(key, p);
  }
  for (const p of pairs.values()) [p.G, p.B, p.W] = [exactSum(p.g), exactSum(p.b), exactSum(p.w)];
  // ATT-008: local trust, rows normalised; a row summing to 0 is dangling
  const rowSum = new Map();
  for (const p of pairs.values()) {
    p.c = (p.W * Math.max(0, p.G - p.B)) / (2 + p.G + p.B);
    rowSum.set(p.R, (rowSum.get(p.R) ?? 0) + p.c);
  }
  const edges = [...pairs.values()].filter((p) => p.c > 0).map((p) => ({ R: p.R, S: p.S, C: p.c / rowSum.get(p.R) }));
  const all = [...names];
  const dangling = all.filter((i) => !(rowSum.get(i) > 0));
  // ATT-009: from t = p, until the L1 change is <= the tolerance or 1000 iterations
  const live = [...new Set(seeds)].filter((x) => !bad.has(x));
  const p = new Map(live.map((x) => [x, 1 / live.length]));
  const pOf = (i) => p.get(i) ?? 0;
  let t = new Map(all.map((i) => [i, pOf(i)]));
  let iterations = 0;
  if (live.length) {
    for (let k = 1; k <= REP.maxIterations; k++) {
      const flow = new Map();
      for (const e of edges) flow.set(e.S, (flow.get(e.S) ?? 0) + e.C * t.get(e.R));
      let back = 0;
      for (const i of dangling) back += t.get(i);
      const next = new Map(all.map((i) => [i, (1 - REP.a) * ((flow.get(i) ?? 0) + back * pOf(i)) + REP.a * pOf(i)]));
      let change = 0;
      for (const i of all) change += Math.abs(next.get(i) - t.get(i));
      t = next;
      iterations = k;
      if (change <= REP.tolerance) break;
    }
  }
  // ATT-010: n+ is how many principals the seeds that are not faulty reach over pairs of c > 0 (the fixed
  // point's support, not the iterate's); then voices, the pair cap, alpha and beta; ATT-016: vouched stake
  const out = new Map();
  for (const e of edges) out.set(e.R, [...(out.get(e.R) ?? []), e.S]);
  const reached = new Set(live);
  for (const queue = [...live]; queue.length; ) for (const s of out.get(queue.shift()) ?? []) if (!reached.has(s)) reached.add(s), queue.push(s); // prettier-ignore
  const nPositive = reached.size;
  const alpha = new Map(), beta = new Map(), vouched = new Map();
  for (const q of pairs.values()) {
    const voice = Math.min(1, t.get(q.R) * nPositive);
    const k = q.G + q.B === 0 ? voice : voice * Math.min(1, REP.K / (q.G + q.B));
    alpha.set(q.S, (alpha.get(q.S) ?? 0) + k * q.G);
    beta.set(q.S, (beta.get(q.S) ?? 0) + k * q.B);
    const mean = q.G + q.B === 0 ? 0 : q.W / (q.G + q.B);
    vouched.set(q.S, (vouched.get(q.S) ?? 0) + k * Math.max(0, q.G - q.B) * mean);
  }
  const report = (s) => {
    if (bad.has(s)) return { trust: 0, score: 0, uncertainty: 0, vouched_stake: 0 };
    const al = 1 + (alpha.get(s) ?? 0), be = 1 + (beta.get(s) ?? 0);
    return { trust: t.get(s) ?? 0, score: al / (al + be), uncertainty: 2 / (al + be), vouched_stake: vouched.get(s) ?? 0 };
  };
  return { nPositive, iterations, report };
}

// Ratings (SPEC 10.2: ATT-002, ATT-004..ATT-007), for conformance/vectors/ratings.json: after a bundle is
// taken, each attestation that counts (ATT-002: the lowest seq of its issuer on its contract) reduced to
// (rater, subject, stake, score, settled) for a view trusting `trusted` escrows. ATT-020: a statement of
// the evidence disowned by a held KeyRevocation or KeyRotation (KEY-009) makes the stake 0 -- KEY-009's
// definition as written, and KEY-010 (c)'s order of Stamps (F33: one its escrow stamped after stamping a
// revocation that reaches it by the Stamp's time is disowned too).
const OUTCOME_SCORE = { 1: 1, 2: 0.5, 3: 0.5, 4: 0, 5: 0 }; // FULFILLED, LATE, PARTIAL, BREACHED, REVOKED

// KEY-009: a statement a held revocation (of its issuer, or of its Mandate's principal, effective at or
// before its time) or rotation (of its issuer, below its seq) would reject, not witnessed before it.
// `via`: for a Mandate, the statements read with it (the rating's evidence whose witnessing escrow is the
// contract's): it is witnessed when one naming it is (KEY-009's escrow of a Mandate, tests/test_attack25.py).
// `readWith` (ATT-020 (c), F115): for an Offer or Counter of the rated contract naming another escrow or none,
// the later statements of its chain the contract's escrow witnesses -- it is witnessed when one of them is read
// as witnessing it, never by its own escrow's Stamps (its issuer chose that escrow).
function disowned(v, rec, via = [], readWith = []) {
  const at = { t: rec.h.issued_at_ms, seq: rec.h.seq };
  const revs = v.revokers(rec).flatMap(([k, a]) => v.revokedAt(k, rec.h.issued_at_ms, a, a === null ? null : rec.h.seq, a === null ? rec.mandateAt : at));
  const rots = v.rotatedBelow(rec.h.issuer, rec.h.seq);
  if (readWith.length)
    return readWith.every((s) => v.stampOrderedRevocation(rec, s) || ((revs.length > 0 || rots.length > 0) && !v.witnessedBefore(rec, [...revs, ...rots], s)));
  if (v.stampOrderedRevocation(rec)) return true; // KEY-010 (c): the escrow took it holding the revocation
  if (!revs.length && !rots.length) return false;
  const naming = rec.bodyName === "mandate" ? via.filter((s) => s.dhex !== rec.dhex && hex(s.h.mandate ?? Buffer.alloc(0)) === rec.dhex) : [];
  if (naming.length) return !naming.some((s) => v.witnessedBefore(rec, [...revs, ...rots], s));
  return !v.witnessedBefore(rec, [...revs, ...rots]);
}

// ATT-020's list (ATT-014's bundle): the Mandates, the escrow's Stamps of the opening offer, the Counters up
// to the accepted statement and the Accept, those statements, the BondLocks, the settlement of the subject's
// bond (for a Forfeit its Stamp, claim or Revoke and Ruling), the attestation.
function ratingEvidence(v, c, att) {
  const n = ratedNegotiation(v, att);
  const line = n.line.slice(0, n.line.indexOf(c.offerRec) + 1);
  const own = [...line, c.acceptRec, ...[...c.locked.values()].map((l) => l.rec), att];
  const settlement = c.settlement.get(att.body.subject);
  if (settlement) {
    own.push(settlement);
    if (settlement.bodyName === "forfeit") {
      const cause = hex(settlement.body.cause);
      const cl = c.claims.get(cause) ?? c.revokes.get(cause);
      if (cl) own.push(cl.rec);
      own.push(...c.endings.filter((r) => r.bodyName === "ruling" && hex(r.body.claim) === cause));
    }
  }
  // ATT-020 (a): of each, the earliest Stamp by its witnessing escrow (KEY-009) -- never another key's: any key
  // can sign a Stamp naming any statement, and its own principal can revoke it back over that Stamp.
  // ATT-020 (c), F115: the opening offer's, the Counters' and the Accept's by the contract's escrow alone
  const stampsOf = (r, e = v.witnessingEscrow(r)) => {
    const l = e ? (v.stamps.get(r.dhex) ?? []).filter((s) => v.stampActsFor(s.escrow, e, s.t, s.seq)) : [];
    return l.length ? [v.byDigest.get(l.reduce((a, b) => (cmpStamp(b, a) < 0 ? b : a)).dhex)] : [];
  };
  const stamped = [...[...line, c.acceptRec].flatMap((r) => stampsOf(r, c.escrow)), ...own.filter((r) => r.bodyName === "breach_claim" || r.bodyName === "revoke").flatMap((r) => stampsOf(r))];
  const all = [...own, ...stamped];
  const mandates = all.map((r) => v.byDigest.get(hex(r.h.mandate ?? Buffer.alloc(0)))).filter(Boolean);
  return [...all, ...mandates];
}

// ATT-020: a statement of the evidence disowned (KEY-009), a Mandate read with the evidence naming it whose
// witnessing escrow is the contract's
function disownsEvidence(v, c, att) {
  const evidence = ratingEvidence(v, c, att);
  const via = evidence.filter((r) => v.witnessingEscrow(r) === c.escrow);
  // ATT-020 (c), F115: an Offer or Counter naming another escrow or none, read with the later statements of the
  // chain the contract's escrow witnesses (they rest on it)
  const n = ratedNegotiation(v, att);
  const chain = [...n.line.slice(0, n.line.indexOf(c.offerRec) + 1), c.acceptRec];
  const later = new Map();
  chain.forEach((r, i) => {
    if (r !== c.acceptRec && v.witnessingEscrow(r) !== c.escrow) later.set(r.dhex, chain.slice(i + 1).filter((s) => v.witnessingEscrow(s) === c.escrow));
  });
  return evidence.some((r) => disowned(v, r, via, later.get(r.dhex) ?? []));
}

// ATT-001: the negotiation whose contract attestation `att` rates -- that of the offer it names (held, as its
// Accept is), its contract formed by that Accept now -- or null: read where the offer says, as the Python
// reference does (contract_of), not by a pass over every negotiation held
function ratedNegotiation(v, att) {
  const o = v.byDigest.get(hex(att.body.offer));
  const n = o ? v.negotiations.get(hex(o.h.negotiation_id)) : null;
  return n?.contract?.digest === hex(att.body.accept) ? n : null;
}

export function rateAttestation(v, rec, trusted) {
  const { h, body } = rec;
  if (v.attested.get(`${h.issuer}\0${hex(body.accept)}`) !== h.seq) return null; // ATT-002: another counts
  const c = ratedNegotiation(v, rec)?.contract;
  if (!c) return null;
  const [raterRec, subjectRec] = h.issuer === c.proposer ? [c.offerRec, c.acceptRec] : [c.acceptRec, c.offerRec];
  const rater = raterRec.principal, subject = subjectRec.principal; // ATT-007
  const settlement = c.settlement.get(body.subject) ?? null;
  let score = OUTCOME_SCORE[body.outcome] ?? 0.5; // ATT-005
  if (settlement) score = settlement.bodyName === "forfeit" ? 0 : Math.max(score, 0.5);
  const lock = c.locked.get(body.subject);
  const weighs =
    rater !== subject && lock && lock.amount > 0n && c.allLocked() && trusted.includes(c.escrow) && settlement && // ATT-004
    !disownsEvidence(v, c, rec); // ATT-020
  return {
    attestation: rec.dhex,
    rater,
    subject,
    stake: weighs ? Number(lock.amount) : 0,
    score,
    settled_ms: settlement ? Number(settlement.h.issued_at_ms) : 0, // ATT-006
  };
}

export function checkRatingVector(test) {
  const v = new Verifier({ mode: "sparse", nowMs: null, role: "auditor" });
  const held = [];
  for (let i = 0; i < test.envelopes.length; i++) {
    try {
      held.push(v.accept(Buffer.from(test.envelopes[i], "base64")));
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      return `envelope ${i} refused: ${e.code} (${e.requirement}: ${e.detail})`;
    }
  }
  const got = held.filter((r) => r.bodyName === "attestation").map((r) => rateAttestation(v, r, test.trusted_escrows)).filter(Boolean);
  // score and settled time only matter for a rating of stake > 0 (ATT-004: one of stake 0 changes nothing)
  const weighed = (r) => JSON.stringify(r.stake > 0 ? r : { attestation: r.attestation, rater: r.rater, subject: r.subject, stake: 0 });
  const a = got.map(weighed), b = test.expected.map(weighed);
  return a.length === b.length && a.every((x, i) => x === b[i]) ? null : `ratings ${a.join(", ")}, expected ${b.join(", ")}`;
}

// One reputation vector: null when the view agrees (ATT-021 (a)'s tolerance), else what differs.
export function checkReputationVector(test) {
  const view = aggregateView({ ratings: test.ratings, seeds: test.seeds, faulty: test.faulty, nowMs: Number(test.now_ms) });
  const diffs = [];
  if (view.nPositive !== test.expected.n_positive) diffs.push(`n_positive ${view.nPositive}, expected ${test.expected.n_positive}`);
  if (view.iterations !== test.expected.iterations) diffs.push(`iterations ${view.iterations}, expected ${test.expected.iterations}`);
  for (const [who, want] of Object.entries(test.expected.principals)) {
    const got = view.report(who);
    for (const [k, w] of Object.entries(want)) {
      const allowed = k === "vouched_stake" ? 1e-9 * Math.max(1, Math.abs(w)) : 1e-9;
      if (!(Math.abs(got[k] - w) <= allowed)) diffs.push(`${who}.${k} ${got[k]}, expected ${w}`);
    }
  }
  return diffs.length ? diffs.join("; ") : null;
}

// ---------------------------------------------------------------------------------------------
// The SPEC's worked examples (sections 3.1, 3.2, 5.1, 5.4, 5.5, 6.2.1, 6.9, 7.5, NEG-013), checked
// with the same code that runs the vectors. Returns a list of failures (empty: every example holds).

export function selfTest() {
  const bad = [];
  const eq = (what, got, want) => {
    if (got !== want) bad.push(`${what}: got ${got}, SPEC says ${want}`);
  };
  const codeOf = (fn) => {
    try {
      fn();
      return "ok";
    } catch (e) {
      if (e instanceof Reject) return e.code;
      throw e;
    }
  };
  // 3.1
  const A = Buffer.from("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "hex");
  const did = "did:key:z" + b58encode(Buffer.concat([Buffer.from([0xed, 0x01]), A]));
  eq("3.1 did:key", did, "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw");
  eq("3.1 valid", codeOf(() => validateDidKey(did, "KEY-001")), "ok");
  // 3.2
  for (const [a, want] of [
    ["0100000000000000000000000000000000000000000000000000000000000000", "KEY_SMALL_ORDER"],
    ["ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "KEY_SMALL_ORDER"],
    ["0100000000000000000000000000000000000000000000000000000000000080", "KEY_NONCANONICAL"],
    ["edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "KEY_NONCANONICAL"],
    ["0200000000000000000000000000000000000000000000000000000000000000", "KEY_INVALID"],
  ]) {
    const k = "did:key:z" + b58encode(Buffer.concat([Buffer.from([0xed, 0x01]), Buffer.from(a, "hex")]));
    eq(`3.2 ${a.slice(0, 8)}…`, codeOf(() => validateDidKey(k, "KEY-001")), want);
  }
  // 5.4 and 5.5
  const payload = Buffer.from("0a020801", "hex");
  const signed = pae(PAYLOAD_TYPE, payload);
  eq("5.4 PAE length", signed.length, 62);
  eq("5.4 digest", hex(sha256(signed)), "bdab4118e76c86cce490f0c3a18510ea3c2e11dbc7e94cab582c9ce25e045f3a");
  const json = {
    payload: "CgIIAQ==",
    payloadType: PAYLOAD_TYPE,
    signatures: [{ keyid: did, sig: "90Uth5xGm/fpox8SS5uqx2iOjtJDIoAA4btMbsw+I8NpVrF0zRkLl6kLTB5jVArKghwe7HKQmi+rnZjT4BjIDg==" }],
  };
  eq("5.4 signature", hex(Buffer.from(json.signatures[0].sig, "base64")), "f7452d879c469bf7e9a31f124b9baac7688e8ed243228000e1bb4c6ecc3e23c36956b174cd190b97a90b4c1e63540aca821c1eec72909a2fab9d98d3e018c80e");
  const envBytes = envelopeFromJson(json);
  eq("5.4 envelope: passes steps 1-10, fails step 11", codeOf(() => verifyStateless(envBytes)), "KEYID_MISMATCH");
  eq("5.5 pad bits set", codeOf(() => envelopeFromJson({ ...json, payload: "CgIIAR==" })), "MALFORMED_ENVELOPE");
  // 5.1 envelope table
  const P = Buffer.from(envBytes.subarray(2, 2 + envBytes[1]));
  const T = Buffer.from(PAYLOAD_TYPE);
  const S = envBytes.subarray(2 + P.length + 2 + T.length + 2);
  const fld = (tag, b) => Buffer.concat([Buffer.from([tag, b.length]), b]);
  const canon = Buffer.concat([fld(0x0a, P), fld(0x12, T), fld(0x1a, S)]);
  eq("5.1 canonical", hex(canon), hex(envBytes));
  const envCase = (what, bytes, want) => {
    const r = decode("Envelope", bytes, { allowUnknown: false });
    const one = r.msg && view(r.msg, "Envelope").signatures.length === 1;
    eq(`5.1 ${what}`, r.malformed || r.noncanonical || !one ? "MALFORMED_ENVELOPE" : "canonical", want);
  };
  envCase("canonical", canon, "canonical");
  envCase("unknown field 4", Buffer.concat([canon, Buffer.from("2001", "hex")]), "MALFORMED_ENVELOPE");
  envCase("unknown field 3 in the Signature", Buffer.concat([fld(0x0a, P), fld(0x12, T), fld(0x1a, Buffer.concat([S, Buffer.from("1801", "hex")]))]), "MALFORMED_ENVELOPE");
  envCase("payload type first", Buffer.concat([fld(0x12, T), fld(0x0a, P), fld(0x1a, S)]), "MALFORMED_ENVELOPE");
  envCase("padded length", Buffer.concat([Buffer.from([0x0a, 0x84, 0x00]), P, fld(0x12, T), fld(0x1a, S)]), "MALFORMED_ENVELOPE");
  envCase("payload twice", Buffer.concat([Buffer.from("0a0100", "hex"), canon]), "MALFORMED_ENVELOPE");
  envCase("cut short", canon.subarray(0, 5), "MALFORMED_ENVELOPE");
  // 6.2.1 payload table
  for (const [h, want] of [
    ["0a 02 08 01", "canonical"], ["0a 03 08 81 00", "NONCANONICAL_ENCODING"], ["0a 04 08 01 08 01", "NONCANONICAL_ENCODING"],
    ["0a 02 08 00", "NONCANONICAL_ENCODING"], ["0a 02 08 01 6a 00 52 00", "NONCANONICAL_ENCODING"],
    ["0a 02 08 01 c0 3e 01", "canonical"], ["c0 3e 01 0a 02 08 01", "NONCANONICAL_ENCODING"],
    ["0a 02 08 01 c0 3e 81 00", "NONCANONICAL_ENCODING"], ["0a 04 12 02 ff fe", "MALFORMED_STATEMENT"],
    ["0a 06 08 81 80 80 80 10", "MALFORMED_STATEMENT"], ["0a 02 08 01 08 01", "MALFORMED_STATEMENT"],
    ["0a 02 08 01 28 01", "MALFORMED_STATEMENT"], ["0a 02 08 01 c3 3e c4 3e", "MALFORMED_STATEMENT"],
    ["0a 03 08 81 00 0a", "MALFORMED_STATEMENT"],
  ]) {
    const r = decode("Statement", Buffer.from(h.replace(/ /g, ""), "hex"), { allowUnknown: true });
    eq(`6.2.1 ${h}`, r.malformed ? "MALFORMED_STATEMENT" : r.noncanonical ? "NONCANONICAL_ENCODING" : "canonical", want);
  }
  const order = decode("Statement", Buffer.from("c03e010a020801", "hex"), { allowUnknown: true });
  eq("6.2.1 unknown field, then the header: rule", order.noncanonical, "STM-016");
  // 6.9
  const ds = [0, 1, 2].map((i) => sha256(Buffer.from([i])));
  eq("6.9 root at seq 1", hex(merkleRoot(ds.slice(0, 1))), "d9de27625445003d8a9739a851e3ff8d41c0683630b4d63a88327a6aaa37c409");
  eq("6.9 root at seq 2", hex(merkleRoot(ds.slice(0, 2))), "604d540f09268b91672ab011394d5266ccd7d4484d0d109411a55848126a1b2c");
  eq("6.9 root at seq 3", hex(merkleRoot(ds)), "d1f13800048f5909d4043fc0c152f6643280cba608b672715e56ce159a20629f");
  // 7.5
  eq("7.5 commitment", hex(commitment(Buffer.from([...Array(32).keys()]), 1000n)), "9fe7ebabc53d125e317fb7691fdfc48ff0f12114ab47b15375c5791eb7b1b5f0");
  // NEG-013
  eq("NEG-013", hex(negotiationId(did, Buffer.from("000102030405060708090a0b0c0d0e0f", "hex"))), "98a36cad7be451838ee2274bdc934957");
  return bad;
}

// ---------------------------------------------------------------------------------------------
// CLI

// SPEC 17.1: the offline adapter protocol, one JSON object per line on stdin and stdout.
async function adapter() {
  const { createInterface } = await import("node:readline");
  const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    // now_ms may exceed 2^53 - 1: read it exactly (finding F1)
    const req = JSON.parse(line.replace(/"now_ms":\s*(\d+)/, '"now_ms": "$1"'));
    if (req.type === "hello") {
      out({ type: "hello", protocol: "a2a-coop-offline/1", name: "a2a-coop js_verifier", version: "1", capabilities: { modes: ["sparse", "complete"], freshness: true, topics: "*", roles: ROLES, faulty: true } });
    } else if (req.type === "verify") {
      if (req.skew_ms !== undefined && BigInt(req.skew_ms) !== SKEW_MS) {
        out({ type: "result", id: req.id, result: "unsupported", detail: `skew_ms ${req.skew_ms}: only 30000` });
        continue;
      }
      const t = { envelopes: req.envelopes, now_ms: req.now_ms, requirements: [], result: "valid", trusted_escrows: req.trusted_escrows, report_faulty: req.report_faulty };
      if (req.role !== undefined && !ROLES.includes(req.role)) {
        out({ type: "result", id: req.id, result: "unsupported", detail: `role ${req.role}` });
        continue;
      }
      const { got } = runVector(t, req.mode, req.role ?? "auditor");
      const faulty = req.report_faulty ? { faulty: got.faulty } : {};
      out(got.result === "valid" ? { type: "result", id: req.id, result: "valid", ...faulty }
        : { type: "result", id: req.id, result: "invalid", error: got.error, failedIndex: got.failedIndex, requirement: got.requirement, detail: got.detail, ...faulty });
    } else if (req.type === "bye") break;
  }
  return 0;
}

class UsageError extends Error {}

// The command line: flags, each `--trust-escrow KEY` (repeatable: a did:key, or a file of them, one a line, `#`
// starting a comment, as `a2a-coop verify` reads it -- the escrows this view trusts, ATT-013 (d), F121) and
// the files, every other argument.
function parseArgs(argv) {
  const flags = new Set(), files = [];
  let trustEscrows = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--trust-escrow" || a.startsWith("--trust-escrow=")) {
      const given = a === "--trust-escrow" ? argv[++i] : a.slice("--trust-escrow=".length);
      if (given === undefined) throw new UsageError("--trust-escrow needs a did:key, or a file of them");
      (trustEscrows ??= []).push(...escrowsGiven(given));
    } else if (a.startsWith("--")) flags.add(a);
    else files.push(a);
  }
  return { flags, files, trustEscrows };
}
function didKeyGiven(did, where) {
  try {
    validateDidKey(did, "KEY-001");
  } catch (e) {
    if (!(e instanceof Reject)) throw e;
    throw new UsageError(`${where}: not a did:key: ${e.detail}`);
  }
  return did;
}
function escrowsGiven(given) {
  if (given.startsWith("did:")) return [didKeyGiven(given, "--trust-escrow")];
  let text;
  try {
    text = readFileSync(given, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${given}: ${e.code ?? e.message}`);
  }
  const lines = text.split(/\r?\n/).map((line) => line.split("#")[0].trim());
  return lines.filter(Boolean).map((line) => didKeyGiven(line, `--trust-escrow ${given}`));
}

function main(argv) {
  try {
    return run(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`verify.mjs: ${e.message}\n`);
    return 2;
  }
}

function run(argv) {
  if (argv.includes("--adapter")) return adapter();
  if (argv.includes("--self-test")) {
    const bad = selfTest();
    for (const b of bad) console.log(`SELF-TEST FAIL ${b}`);
    console.log(bad.length ? `${bad.length} worked examples disagree` : "every worked example of SPEC.md holds");
    return bad.length ? 1 : 0;
  }
  const { flags, files, trustEscrows } = parseArgs(argv);
  const json = flags.has("--json");
  const verbose = flags.has("--verbose");
  const trustStated = flags.has("--trust-stated");
  if (!files.length) {
    process.stderr.write("usage: node verify.mjs [--json] [--verbose] conformance/vectors/*.json | [--trust-escrow KEY]... [--trust-stated] TRANSCRIPT.json\n");
    return 2;
  }
  if (trustStated && trustEscrows) throw new UsageError("--trust-stated applies the transcript's trusted_escrows; --trust-escrow names yours");
  const report = { layers: LAYERS, files: {}, total: { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0 }, disagreements: [] };
  let invalid = 0; // transcripts refused (a vector file's verdicts are compared with its own instead)
  for (const file of files) {
    // now_ms can exceed 2^53 - 1 (an edge past a statement's expires_at_ms = 2^53 - 1 plus the skew), which
    // JSON.parse would round: read it as a string, exactly (finding F1 of README.md).
    const text = readFileSync(file, "utf8").replace(/"now_ms": (\d+)/g, '"now_ms": "$1"');
    const doc = JSON.parse(text);
    const stem = basename(file, ".json");
    if (doc.schema === "a2a-coop-equivocation-proof/1") {
      let why;
      try {
        why = checkEquivocationProof(doc);
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        why = e.message;
      }
      const f = { vectors: 1, agree: why === null ? 1 : 0, decided: 1, uncovered: 0, disagree: why === null ? 0 : 1, byKind: {} };
      f.byKind.EquivocationProof = { vectors: 1, agree: f.agree, decided: 1, uncovered: 0, disagree: f.disagree };
      if (why !== null) report.disagreements.push({ id: stem, expected: "proof holds", got: why });
      report.files[stem] = f;
      for (const k of ["vectors", "agree", "decided", "uncovered", "disagree"]) report.total[k] += f[k];
      continue;
    }
    if (doc.schema === "a2a-coop-equivocation-non-proofs/1") {
      const f = { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0, byKind: {} };
      const k = (f.byKind.NonProof = { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0 });
      for (const t of doc.tests) {
        const why = checkNonProof(t);
        for (const o of [f, k, report.total]) {
          o.vectors++;
          o.decided++;
          o[why === null ? "agree" : "disagree"]++;
        }
        if (why !== null)
          report.disagreements.push({ id: `${stem}-${t.tcId}-${t.requirements[0] ?? ""}`, group: "NonProof", comment: t.comment, expected: "not a proof", got: why });
      }
      report.files[stem] = f;
      continue;
    }
    if (doc.schema === "a2a-coop-reputation-vectors/1" || doc.schema === "a2a-coop-rating-vectors/1") {
      const ratings = doc.schema === "a2a-coop-rating-vectors/1";
      const f = { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0, byKind: {} };
      for (const g of ratings ? doc.ratingGroups : doc.viewGroups) {
        for (const t of g.tests) {
          const k = (f.byKind[g.type] ??= { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0 });
          const why = ratings ? checkRatingVector(t) : checkReputationVector(t);
          for (const o of [f, k, report.total]) {
            o.vectors++;
            o.decided++;
            o[why === null ? "agree" : "disagree"]++;
          }
          if (why !== null)
            report.disagreements.push({ id: `${stem}-${t.tcId}-${t.requirements[0] ?? ""}`, group: g.type, comment: t.comment, expected: "the view stated", got: why });
        }
      }
      report.files[stem] = f;
      continue;
    }
    if (Array.isArray(doc) || (doc.envelopes && !doc.testGroups)) {
      const stated = Array.isArray(doc) ? undefined : doc.trusted_escrows;
      if (stated !== undefined && !(Array.isArray(stated) && stated.every((k) => typeof k === "string")))
        throw new UsageError(`${file}: trusted_escrows must be a list of did:keys`);
      for (const k of stated ?? []) didKeyGiven(k, `${file}: trusted_escrows`);
      if (trustStated && stated === undefined) throw new UsageError(`--trust-stated: ${file} states no trusted_escrows`);
      const t = verifyTranscript(doc, { trustEscrows, trustStated });
      (report.transcripts ??= []).push({ file, ...t });
      if (t.result !== "valid") invalid++;
      continue;
    }
    const f = { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0, byKind: {} };
    for (const g of doc.testGroups) {
      for (const t of g.tests) {
        // the kind: the mutation op for mutations.json, the skipped check for canaries, else the group type
        const kind = t.mutation ? `${t.mutation.op}` : t.canary ? `canary:${t.canary.skippedCheck}` : g.type;
        const k = (f.byKind[kind] ??= { vectors: 0, agree: 0, decided: 0, uncovered: 0, disagree: 0 });
        const { verdict, decided, got } = runVector(t, g.mode, g.role ?? "auditor");
        for (const o of [f, k, report.total]) {
          o.vectors++;
          o[verdict]++;
          if (decided) o.decided++;
        }
        if (verdict === "disagree")
          report.disagreements.push({
            id: `${stem}-${t.tcId}-${t.requirements[0] ?? ""}`,
            group: g.type,
            comment: t.comment,
            expected: (t.result === "valid" ? "valid" : `${t.error}@${t.failedIndex}`) + (t.faulty ? `; faulty ${t.faulty.join(", ")}` : ""),
            got: (got.wire ? `wire member read as ${got.wire}` : got.result === "valid" ? "valid" : `${got.error}@${got.failedIndex} (${got.requirement}: ${got.detail})`) + (got.faulty ? `; faulty ${got.faulty.join(", ")}` : ""),
          });
      }
    }
    report.files[stem] = f;
  }
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 1) + "\n");
  } else {
    const line = (name, o) =>
      `${name.padEnd(34)} ${String(o.agree).padStart(5)} agree / ${String(o.vectors).padStart(5)}  (decided ${o.decided}, uncovered ${o.uncovered}, disagree ${o.disagree})`;
    for (const t of report.transcripts ?? []) {
      const why = t.result === "valid" ? "" : ` ${t.error} [${t.requirement}] ${t.detail} at envelope ${t.failedIndex}`;
      console.log(`${t.file}: ${t.result}${why} (${t.statements} statements taken)`);
      for (const p of t.proofs) console.log(`  proof [${p.requirements[0]}] against ${p.issuer} (ATT-012; faulty with its principals, ATT-013)`);
      if (t.stated_trusted_escrows) {
        const applied = t.trusted_by === "transcript" ? "applied: --trust-stated" : "not applied";
        console.log(`  the transcript states trusted_escrows (its presenter's choice; ${applied}): ${t.stated_trusted_escrows.join(", ") || "none"}`);
      }
      const n = t.trusted_escrows?.length;
      const read = n === undefined ? "every escrow's Stamps" : n === 0 ? "no escrow's Stamps: none trusted" : `the Stamps of the ${n} escrow${n === 1 ? "" : "s"} trusted`;
      if (t.faulty.length) console.log(`  faulty (ATT-013, reading ${read}): ${t.faulty.join(", ")}`);
      for (const c of t.convictions) {
        const rests = c.stamps_of.length ? `and the Stamps of ${c.stamps_of.join(", ")}` : "alone";
        const unnamed = c.stamps_of.length && n === undefined ? " (not named by you: --trust-escrow KEY chooses)" : "";
        console.log(`    ${c.subject}: the proof against ${c.proof_against} ${rests}${unnamed}`);
      }
    }
    if (report.transcripts && !Object.keys(report.files).length) return invalid ? 1 : 0;
    for (const [name, f] of Object.entries(report.files)) {
      console.log(line(name, f));
      if (verbose) for (const [k, o] of Object.entries(f.byKind)) console.log(line(`  ${k}`, o));
    }
    console.log(line("TOTAL", report.total));
    const show = verbose ? report.disagreements : report.disagreements.slice(0, 20);
    for (const d of show) console.log(`DISAGREE ${d.id} [${d.group ?? ""}] expected ${d.expected}, got ${d.got}  -- ${d.comment ?? ""}`);
    if (show.length < report.disagreements.length) console.log(`... ${report.disagreements.length - show.length} more (--verbose)`);
  }
  return report.disagreements.length || invalid ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) Promise.resolve(main(process.argv.slice(2))).then((code) => process.exit(code));
