"""The flag vocabulary: what each vector flag means, as Wycheproof ``notes``.

Every flag a case carries needs an entry here (generation stops otherwise); a file's ``notes``
object lists the flags its vectors use, in the order of :data:`NOTES`. A new vector family that
targets a new bug class adds its flag here.
"""

from __future__ import annotations

from typing import Final

# flag -> (bugType, description, effect)
NOTES: Final[dict[str, tuple[str, str, str]]] = {
    "Valid": (
        "BASIC",
        "A well-formed input every implementation must accept.",
        "Rejecting it breaks interoperability.",
    ),
    "Boundary": (
        "EDGE_CASE",
        "A value exactly at a limit the SPEC allows (size, time, cap, deadline).",
        "Off-by-one errors reject valid input or accept invalid input one unit past the limit.",
    ),
    "WrongKey": (
        "MODIFIED_SIGNATURE",
        "Signed by a different key than the keyid names; the keyid is unchanged.",
        "A verifier that trusts a signature without binding it to the keyid accepts forgeries.",
    ),
    "PayloadTypeSwap": (
        "WRONG_PRIMITIVE",
        "The payload type is not the statement media type, or differs from the type that was signed.",
        "Without domain separation a signature made for another DSSE payload type passes as a statement.",
    ),
    "PaeMismatch": (
        "MODIFIED_SIGNATURE",
        "The signature covers something other than PAE(payload_type, payload), e.g. the raw payload.",
        "Verifiers that sign or check the wrong bytes are not interoperable and lose domain separation.",
    ),
    "MalformedEnvelope": (
        "BASIC",
        "Bytes that are not a well-formed envelope: garbage, truncation, empty input or empty payload.",
        "Parsers that guess or default may process attacker-shaped input.",
    ),
    "OversizedEnvelope": (
        "EDGE_CASE",
        "An envelope over 65536 bytes, otherwise valid.",
        "Without a size limit checked before parsing, peers can be made to allocate and hash without bound.",
    ),
    "SignatureCount": (
        "CAN_OF_WORMS",
        "An envelope with zero or two signatures.",
        "Multi-signature envelopes invite verifying one signature and trusting another's keyid.",
    ),
    "SignatureLength": (
        "MODIFIED_SIGNATURE",
        "A signature that is not 64 bytes.",
        "Lenient length handling has led to out-of-bounds reads and to signature malleability.",
    ),
    "NonCanonicalS": (
        "SIGNATURE_MALLEABILITY",
        "S is not reduced below the group order L (S + L, or S = L). libsodium rejects it too; a2a-coop "
        "requires the specific code SIGNATURE_NONCANONICAL.",
        "Accepting S + L makes a second valid signature for the same statement, so envelopes (and anything "
        "keyed by their bytes) are malleable.",
    ),
    "SmallOrderR": (
        "SIGNATURE_MALLEABILITY",
        "The signature's R is a small-order point (or not canonically encoded).",
        "Strict (libsodium) verification rejects it; lenient verifiers disagree with strict ones.",
    ),
    "ModifiedSignature": (
        "MODIFIED_SIGNATURE",
        "One bit of a valid signature is flipped.",
        "A verifier that accepts it does not check signatures at all.",
    ),
    "SmallOrderKey": (
        "WEAK_PARAMS",
        "The keyid is a small-order point (identity, order 2, 4 or 8). The envelope carries the "
        "signature R = identity, S = 0, with the nonce chosen so that it satisfies the cofactorless "
        "RFC 8032 equation for this message: a lax verifier accepts it.",
        "Signatures by small-order keys verify for many messages; such keys prove nothing about a signer.",
    ),
    "NonCanonicalKey": (
        "EDGE_CASE",
        "The keyid's point encoding is not canonical: y >= p, or x = 0 with the sign bit set.",
        "Two encodings of one key let one signer appear as two identities (and break equivocation proofs).",
    ),
    "OffCurveKey": (
        "EDGE_CASE",
        "The keyid's 32 bytes do not decode to a point on edwards25519.",
        "Implementations must not reach the signature check with an invalid key.",
    ),
    "MalformedDid": (
        "BASIC",
        "A keyid or audience that is not an Ed25519 did:key in canonical base58btc.",
        "Identifier confusion lets one key appear under several names.",
    ),
    "NonCanonicalEncoding": (
        "CAN_OF_WORMS",
        "A payload that decodes, but is not the canonical protobuf encoding (non-minimal varint, "
        "duplicated or reordered fields, explicit default, unknown field out of place). Re-signed by the "
        "issuer, so only the encoding is wrong.",
        "Two byte strings meaning the same statement have different digests: replay caches, chains and "
        "references keyed by digest can be bypassed.",
    ),
    "MalformedPayload": (
        "BASIC",
        "A signed payload that does not decode as a Statement.",
        "Implementations must reject it with MALFORMED_STATEMENT, not crash.",
    ),
    "UnknownField": (
        "EDGE_CASE",
        "A field this version does not know, placed after the known ones (as a newer peer would emit it).",
        "Dropping or reordering unknown fields breaks signatures of forwarded statements (VER-002).",
    ),
    "UnknownVersion": (
        "BASIC",
        "header.version is not 1.",
        "A verifier must not interpret a statement of another protocol version under v1 rules.",
    ),
    "IssuerMismatch": (
        "MISSING_STEP",
        "header.issuer names another key than the signature's keyid.",
        "A verifier that skips the binding lets anyone sign statements in another agent's name.",
    ),
    "HeaderRule": (
        "BASIC",
        "A header field breaks a header rule (nonce length, seq/prev, times, negotiation_id, refs, mandate).",
        "Malformed headers break replay protection, chains or routing.",
    ),
    "MissingBody": (
        "BASIC",
        "No body, or only a body this version does not know.",
        "A statement without a known body must not be processed (VER-004).",
    ),
    "BodyRule": (
        "BASIC",
        "A body field breaks a body rule (items, terms, claims, digests, ratings, mandate fields).",
        "Malformed bodies make contracts ambiguous.",
    ),
    "VerificationOrder": (
        "EDGE_CASE",
        "The input breaks several rules; the expected code is the first in the normative order.",
        "Implementations that check in another order report different codes for the same input.",
    ),
    "Expired": (
        "EDGE_CASE",
        "Freshness at a reference time: expired, not yet valid, or issued in the future, around the skew.",
        "Stale or post-dated statements must not be acted on live.",
    ),
    "OfflineEvidence": (
        "EDGE_CASE",
        "An expired statement verified as evidence without a reference time.",
        "Evidence must stay verifiable after its statements expire (TIM-005).",
    ),
    "Replay": (
        "REPLAY",
        "A statement seen before, or a new statement reusing an issuer's nonce.",
        "Replayed statements would be processed twice.",
    ),
    "ChainGap": (
        "MISSING_STEP",
        "A complete log segment with a missing seq (or a sparse view, where gaps are allowed).",
        "Omitted statements hide commitments from auditors.",
    ),
    "ChainBroken": (
        "MISSING_STEP",
        "prev does not name the issuer's previous statement, or issued_at goes backwards.",
        "A verifier that does not link statements cannot detect rewritten history.",
    ),
    "Equivocation": (
        "MISSING_STEP",
        "Two different statements by one issuer at one seq.",
        "An issuer could show different histories to different parties.",
    ),
    "RevokedKey": (
        "MISSING_STEP",
        "A statement by a revoked or rotated-out key, or under a mandate whose principal was revoked.",
        "A stolen key keeps signing after its owner revoked it.",
    ),
    "RevocationAuthority": (
        "AUTHORIZATION",
        "A KeyRevocation by someone who is neither the key nor a principal the key is bound to: bound by "
        "the key's own signature under that principal's Mandate (KEY-007), not by a Mandate naming it.",
        "Anyone could disable anyone else's key, by minting a Mandate that names it.",
    ),
    "MandateViolation": (
        "AUTHORIZATION",
        "A statement outside its issuer's mandate (counterparty, category, value, time, currency, agent).",
        "An agent commits its principal beyond what the principal authorized.",
    ),
    "UnknownMandate": (
        "AUTHORIZATION",
        "The mandate the statement cites is not in the transcript.",
        "Authority cannot be checked, so the statement cannot be accepted.",
    ),
    "Exposure": (
        "AUTHORIZATION",
        "A sequence of offers or accepts that breaks the ratchet cap (max_outstanding) or period budget.",
        "Many small deals add up past what the principal allowed.",
    ),
    "IllegalTransition": (
        "STATE",
        "A statement not allowed in the negotiation's state (accept twice, after expiry, before bonds, ...).",
        "A negotiation reaches a state the protocol does not define.",
    ),
    "WrongParty": (
        "AUTHORIZATION",
        "A negotiation statement by a party not allowed to make it.",
        "A party acts in a role that is not its own (countering its own offer, locking bonds, ...).",
    ),
    "StaleReference": (
        "STATE",
        "A statement referencing an offer, contract, delivery or negotiation that is not the current one.",
        "Accepting a superseded offer forms a contract nobody agreed to.",
    ),
    "ContractRule": (
        "STATE",
        "A statement that breaks a contract's terms (revocation not allowed, exclusive key, bond amounts).",
        "Commitments stop being credible.",
    ),
    "Attestation": (
        "AUTHORIZATION",
        "An attestation without a co-signed contract, by a non-party, or a second one per party.",
        "Reputation can be inflated or poisoned without a real trade.",
    ),
    "Commitment": (
        "BASIC",
        "A Reveal that does (or does not) open the commitment in the issuer's offer.",
        "A hidden value could be changed after the fact.",
    ),
    "IntegerRange": (
        "EDGE_CASE",
        "An integer of the header or a body at 2^53 - 1, the largest a statement carries, or above it "
        "(STM-013, BDY-015), up to 2^64 - 1.",
        "64-bit verifiers wrap sums (an expiry of 2^64 - 1 plus the skew) and double-based ones round: "
        "implementations reach different verdicts on one statement.",
    ),
    "DerivedNegotiationId": (
        "AUTHORIZATION",
        'An Offer whose negotiation_id is not SHA256("a2a-coop/v1/negotiation" 00 issuer 00 nonce)[0:16] '
        "(NEG-013): chosen, copied from another party's offer, or derived from other inputs.",
        "Whoever opens a negotiation first under another party's id squats on its contract.",
    ),
    "CausalTime": (
        "STATE",
        "A statement dated before the statement it answers: an answer before the offer, a Delivery before "
        "the Accept (NEG-014).",
        "A back-dated answer revives a lapsed offer or predates the contract it performs.",
    ),
    "Unwitnessed": (
        "STATE",
        "A BreachClaim or Revoke that the contract's escrow did not stamp (or stamped outside the claim "
        "window): it is held without effect (WIT-005, CMT-005).",
        "A claimant or revoker could act without the arbiter, or choose the time its act takes effect.",
    ),
    "Ruling": (
        "STATE",
        "An escrow's Ruling or Forfeit that is not due: before the response window, a second one, a "
        "forfeit without an upheld claim, a lapse too early (CMT-002, CMT-006).",
        "An escrow could end a dispute before the accused can answer, or move a bond without cause.",
    ),
    "LogRoot": (
        "MISSING_STEP",
        "A Checkpoint whose log_root is, or is not, the RFC 6962 root of its issuer's statements before it, "
        "checked only by a verifier holding all of them (CHN-007).",
        "A Checkpoint that misstates the log hides statements from later inclusion proofs.",
    ),
    "Confluence": (
        "STATE",
        "One contract's statements in another order of arrival that keeps each after what it depends on "
        "(NEG-015): every such order is accepted and ends in the same state.",
        "Parties and escrow that reach different final states settle one contract two ways.",
    ),
    "Attack": (
        "CAN_OF_WORMS",
        "An attack of the v0.1 security review (SPEC 16.14), as the statements an attacker sends.",
        "The attack succeeds against a verifier that gets this vector wrong.",
    ),
    "WitnessedBeforeRevocation": (
        "STATE",
        "A statement a held KeyRevocation covers, beside its escrow's Stamps of it and of the revocation, "
        "verified offline: taken when the escrow stamped it before any Stamp of the revocation held (or "
        "none), refused KEY_REVOKED otherwise (KEY-009).",
        "Refusing it lets a key revoked back past a breach erase the breach from every view that hears the "
        "revocation first; taking it after the escrow stamped the revocation lets the key trade past it.",
    ),
    "ClaimWindow": (
        "STATE",
        "An Accept of a contract naming an escrow whose last deadline plus the claim window (86400000) is "
        "at or after the end of either party's Mandates' validity held (renewals allowing the counterparty "
        "extend it, held revocations of the key or its principal cut it), checked by an escrow taking "
        "evidence or its audit (group role escrow): refused MANDATE_VIOLATION (ESC-019).",
        "A counterparty sets a deadline past the party's Mandate: it takes the party's Delivery, delivers "
        "nothing, and the party's claim, issued after its Mandate ended, is refused (MND-003).",
    ),
    "EscrowValidity": (
        "STATE",
        "An Accept of a contract naming an escrow whose last ruling time (last deadline + 86400000 + the "
        "response window, 3600000 when 0, + 30000) is at or after the end of the validity of the Mandate "
        "the escrow's earliest held Stamp naming the Accept cites (held revocations of the escrow's key or "
        "that Mandate's principal cut it), checked by an escrow taking evidence or its audit (group role "
        "escrow): refused MANDATE_VIOLATION (ESC-020).",
        "An escrow whose Mandate ended stamps no claim and signs no Ruling, Forfeit, Release or lapse "
        "(MND-003): a contract it bonded keeps both bonds locked and the claimant's claim is lost.",
    ),
    "EscrowHandOver": (
        "STATE",
        "A Stamp, Ruling, Forfeit or Release of a contract naming escrow key K issued by another key N: "
        "K's escrow's only when a hand-over of K to N is honoured -- a Mandate naming K in succeeds, by "
        "the one principal K was bound to before its revocation's effective_ms, naming one successor, K's "
        "revocation held -- and it is issued at or after that effective_ms; else refused WRONG_PARTY "
        "(ESC-022).",
        "Without it a revoked escrow key's bonds stay locked for good; accepted from anyone else, a thief, "
        "a party or a stranger appoints an escrow that rules on the contract and moves its bonds.",
    ),
    "WitnessDisownedAfterTheAccept": (
        "STATE",
        "An Accept over its issuer's max_outstanding taken because its offer's escrow stamped it first "
        "(NEG-019), whose Stamp a later revocation of the escrow key disowns (KEY-009 (d)): it stays taken, "
        "its negotiation derived again unwitnessed, its caps not read again; held before it, the revocation "
        "has it refused MANDATE_VIOLATION.",
        "A verifier that takes its view again from scratch once a Stamp is disowned drops the contract, and "
        "refuses what the parties sign under it (finding F131).",
    ),
    "OwnRevocationReach": (
        "STATE",
        "A statement of a key K that a held KeyRevocation of K reaches (KEY-011): the key's own revocation "
        "from max(effective_ms, its issued_at_ms) over K's statements at its seq or above; a principal's "
        "from its effective_ms over K's statements under that principal's Mandates (or none), and from "
        "max(effective_ms, its issued_at_ms) over the others: refused KEY_REVOKED (KEY-004).",
        "Taken by its effective_ms alone, a revocation by the key's thief -- itself, or a principal it "
        "binds the key to -- disowns the key's whole history: an escrow's ledger, and the principal's "
        "hand-over of its contracts (ESC-022).",
    ),
    "OwnRevocationFork": (
        "STATE",
        "A statement of a key K at the seq of a KeyRevocation of K by K held (another digest), or at the "
        "next seq with a prev other than that revocation's digest: refused EQUIVOCATION or CHAIN_BROKEN "
        "(KEY-012), before KEY-004 would refuse it KEY_REVOKED, unless a view takes it as witnessed before "
        "the revocation (KEY-009); and a statement of K the revocation reaches though it was heard after "
        "the statements it forks (KEY-013: it joins no chain): refused KEY_REVOKED.",
        "Refused KEY_REVOKED with the revocation alone, a thief's revocation forked into a seq the key used "
        "left the views that heard it first no proof of the fork: they held the key's principals "
        "blameless (ATT-013) while the views that heard the key's statement first held them faulty.",
    ),
    "RotationFork": (
        "STATE",
        "A statement of a key K at the next seq after a KeyRotation of K held, with a prev other than that "
        "rotation's digest: refused CHAIN_BROKEN (KEY-012), before KEY-005 would refuse it KEY_REVOKED.",
        "Refused KEY_REVOKED with the rotation alone, a thief's rotation forked into a seq the key used left "
        "the views that heard it first no proof of the fork: they held the key's principals blameless "
        "(ATT-013) while the views that heard the key's statement first held them faulty.",
    ),
    "StampsInOneMillisecond": (
        "STATE",
        "Two Stamps by one escrow in one millisecond: the lower seq is the earlier (KEY-009's order), "
        "whichever the verifier heard first.",
        "Keeping the first Stamp heard of a statement in a millisecond, a view shown the escrow's later "
        "re-Stamp first disowned a statement the escrow stamped before a revocation.",
    ),
    "PrincipalKeyReach": (
        "STATE",
        "A statement under a Mandate issued by a key P, which a held KeyRevocation of P reaches (MND-012, "
        "KEY-011 (c)): P's own from max(effective_ms, its issued_at_ms); a principal P was bound to at "
        "or before the Mandate's place in P's chain from its effective_ms, one bound after it from "
        "max(effective_ms, its issued_at_ms): refused KEY_REVOKED. A key's statement under its own "
        "Mandate is revoked as any of its statements (KEY-004, MND-025).",
        "Taken from its effective_ms, a revocation of a principal's key by a principal its thief binds it to "
        "disowns every Mandate the principal ever signed: its agents' whole histories.",
    ),
    "StampOrderedRevocation": (
        "STATE",
        "A BreachClaim, Revoke, Offer, Counter, Accept or Receipt whose witnessing escrow's earliest Stamp "
        "held is after that escrow's Stamp held of a KeyRevocation of its issuer or its Mandate's principal, "
        "and at or after that revocation's effective_ms, in a view of evidence: refused KEY_REVOKED "
        "(KEY-010 (c), the escrow's own order).",
        "A faulty escrow took a thief's statement after it stamped the principal's revocation: every view "
        "took it, and the thief's contract weighed in reputation.",
    ),
    "StampTimedRevocation": (
        "STATE",
        "A BreachClaim, Revoke, Offer, Counter or Accept dated before a held KeyRevocation's effective_ms "
        "and stamped by its escrow at or after it, checked by an escrow taking evidence or its audit "
        "(group role escrow): refused KEY_REVOKED, the Stamp's time compared, not the signer's (KEY-010); "
        "in a view of evidence, taken (KEY-009 times a revocation by the escrow's Stamps alone).",
        "A thief of the key dates its Revoke, or its Accept of an accomplice's bonded offer, a moment "
        "before the principal's revocation and has the escrow forfeit the bond the principal's key put up.",
    ),
    "RotationWitnessed": (
        "STATE",
        "A statement above a held KeyRotation of its key (KEY-005), beside its escrow's Stamps of it and "
        "of the rotation: a view of evidence takes it when the escrow stamped it before any Stamp of the "
        "rotation held, or none (KEY-009); of two rotations held the lower seq ends the chain; an escrow "
        "taking evidence refuses it.",
        "A key that signs a rotation back into a gap of its chain below a breached contract erases the "
        "breach from every view that hears the rotation first.",
    ),
    "WitnessedAccept": (
        "STATE",
        "An Accept of an offer naming an escrow, stamped by that escrow by the offer's bonding cutoff, "
        "beside another answer to the same offer (a Reject, a Counter, a Withdraw, a second Accept) in "
        "either order of arrival: the witnessed Accept takes precedence unless the escrow took the other "
        "answer first, and what it displaces is taken with no effect (NEG-017).",
        "The acceptor shows the escrow an Accept and the offerer another answer: the offerer never performs "
        "the contract the escrow bonds, and the acceptor's claim takes its bond.",
    ),
    "DecoderDisagreement": (
        "CAN_OF_WORMS",
        "Bytes on which a plain decode and re-encode with a standard protobuf decoder that keeps unknown "
        "fields (as upb, protobuf's C-based decoder in Python, does) reaches another verdict than SPEC "
        "6.2's decoding profile: it accepts, truncates, merges or refuses where the profile does not.",
        "Verifiers built on different protobuf libraries report different codes for one payload, or "
        "accept a statement another refuses.",
    ),
    "NonCanonicalEnvelope": (
        "CAN_OF_WORMS",
        "An envelope that carries a validly signed statement but is not its canonical encoding: an "
        "unknown field, fields reordered or repeated, a padded tag or length (ENV-009).",
        "One signed statement circulates, and is stored, as several different envelopes.",
    ),
    # The mutation grammar (mutations.json): one flag per op; the test's `mutation` member says more.
    "MutationFlip": (
        "MODIFIED_SIGNATURE",
        "One bit of a valid transcript's last envelope flipped (in the signature, or in a named header "
        "field of the signed payload), the envelope not re-signed.",
        "A verifier that does not verify every signature over the bytes as received accepts forgeries.",
    ),
    "MutationField": (
        "BASIC",
        "One header field of a valid transcript's last statement changed, and the statement re-signed by "
        "its issuer: the field's own rule decides.",
        "A verifier that leaves that header rule out accepts a statement the SPEC refuses.",
    ),
    "MutationResign": (
        "MODIFIED_SIGNATURE",
        "A valid statement signed by another key: under the issuer's keyid, under its own keyid, or "
        "re-issued by another key that cites the victim's mandate.",
        "A verifier that does not bind the signature to the keyid and the keyid to the issuer and its "
        "mandate accepts impersonation.",
    ),
    "MutationDrop": (
        "MISSING_STEP",
        "One envelope of a valid transcript left out: the mandate a later statement cites, or a "
        "predecessor in a complete log.",
        "A verifier that does not hold what a statement depends on accepts it without its context.",
    ),
    "MutationReorder": (
        "STATE",
        "A valid transcript's last statement moved before the mandate it cites or before its issuer's "
        "predecessor.",
        "A verifier that judges statements without their order accepts what arrives out of order.",
    ),
    "MutationReplay": (
        "REPLAY",
        "A statement of a valid transcript sent again, or re-signed with a nonce its issuer already used.",
        "A verifier without replay memory acts on one statement twice.",
    ),
    "MutationReencode": (
        "CAN_OF_WORMS",
        "A valid statement in another encoding of the same content: a non-canonical payload (re-signed) "
        "or a non-canonical envelope (signature untouched).",
        "Verifiers disagree on which bytes were signed, and one statement gets several digests.",
    ),
    "MutationShiftTime": (
        "EDGE_CASE",
        "A valid transcript judged at a reference time just outside, or exactly at the edge of, an "
        "envelope's validity window widened by the skew (30000 ms).",
        "A verifier with an off-by-one or no freshness check accepts stale or future statements.",
    ),
    "MutationSplice": (
        "STATE",
        "A valid statement whose (seq, prev) were taken from another issuer's chain, re-signed.",
        "A verifier that does not track each issuer's chain accepts forks and broken links.",
    ),
    "Canary": (
        "MISSING_STEP",
        "A vector that a verifier leaving out one named check of SPEC section 11 accepts "
        "(the test's `canary` member names the check); proven against such a verifier.",
        "An implementation that skips that check fails this vector.",
    ),
}
