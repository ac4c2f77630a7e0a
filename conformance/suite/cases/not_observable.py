"""Requirements the live suite cannot observe from outside the target, each with a case that says so
(NOT-TESTED, with the reason and what tests it instead). A NOT-TESTED case is not a pass: the report
counts them apart, so a reader sees exactly what a run did not check."""

from __future__ import annotations

from conformance.suite.model import not_observable

_ESCROW = (
    "needs the target to trade under an escrow the suite plays; a target trusts only escrows its operator "
    "configured (MND-015), and the suite does not yet provision one into the target. Covered offline by "
    "the vectors (a2a-coop verify --vectors conformance/vectors) and tests/test_escrow.py for the "
    "reference escrow"
)
_REPUTATION = (
    "a reputation view is the target's internal computation; the protocol exposes no RPC that returns "
    "scores, so it cannot be read over the wire. Check your implementation offline against "
    "conformance/vectors/ratings.json (evidence bundles to each attestation's rating, ATT-004..ATT-007, "
    "ATT-020) "
    "and reputation.json (ratings, seeds, faulty principals and now to each principal's trust, score, "
    "uncertainty and vouched stake, ATT-021's tolerance; `a2a-coop verify --vectors` runs both here, "
    "examples/js_verifier/verify.mjs in JavaScript) and tests/test_reputation.py's worked examples"
)
_AUDIT = (
    "an audit is a program run over an escrow's ledger, not a wire behaviour of a peer: run "
    "`a2a-coop escrow audit` over your escrow's transcript"
)

not_observable(
    "esc.bond-body-parties",
    "A settlement names a valid party and a positive amount",
    "an escrow signs these bodies and a peer relays them; the body rule is pinned offline by the vectors "
    "(statements.json, rules.json), and the escrow cases check every amount and party the target escrow "
    "signs",
    "BDY-008",
)
not_observable(
    "esc.witnessed-time-acks",
    "Witnessed time counts Acks and Receipts by the audience, never the statement's own date",
    "the escrow cases observe Stamps (esc.ruling-dismiss, esc.late-delivery-upheld); how a verifier combines "
    "Acks into witnessed time is internal: the vectors (chains.json, causal time) pin it",
    "WIT-002",
)
not_observable(
    "esc.submit-deliveries",
    "An initiator submits the contract and its Deliveries to the escrow",
    "what a target submits to its escrow goes over the target's own channel to an escrow its operator "
    "configured, which the suite does not see; the reference peer does it (EscrowWitness in "
    "a2a_coop/runtime/node.py)",
    "WIT-007",
    "ESC-004",
)
not_observable(
    "esc.ask-about-unanswered-offer",
    "The issuer of an unanswered bonded offer asks its escrow, at once and past the bonding cutoff",
    "what a target submits to its escrow goes over the target's own channel to an escrow its operator "
    "configured, which the suite does not see; esc.hidden-accept-revealed checks the escrow's answer, and "
    "tests/test_hidden_accept.py the reference peer's `offer` and `resume`",
    "ESC-013",
)
not_observable(
    "neg.witnessed-accept-precedence",
    "An Accept the offer's escrow witnessed takes precedence over an answer it never took",
    "what a target's verifier makes of an Accept its escrow reveals shows only in what it signs next, which "
    + _ESCROW
    + "; the vectors (chains.json, NEG-017) pin the precedence and what it supersedes, esc.superseded-answer-"
    "not-taken and esc.answer-taken-closes-offer the escrow's side, and tests/test_hidden_accept.py the "
    "reference peer",
    "NEG-017",
    "NEG-018",
    "NEG-019",
    "MND-022",
    "MND-023",
    "MND-024",
)
not_observable(
    "neg.lower-answer-precedence",
    "Of two answers of one key to one offer naming no escrow, the one lower in its chain prevails",
    "the suite plays the acceptor: a target offering it a trade would see two answers the suite signed, but "
    "what the target's verifier makes of them shows only in what it signs next, and the rule's point is the "
    "order a third party hears them in; the vectors (chains.json 24, 30 and LowerAnswer) pin it, and "
    "tests/test_attack23_thief_negotiation.py the reference peer (a live receiver) in each order; that "
    "such a contract binds its offerer to nothing shows only in the offerer's later trades as a third party "
    "reads them: the vectors (chains.json AnswerBindsNothing) pin it, "
    "tests/test_attack24_exclusive_reveal.py every order",
    "NEG-021",
    "NEG-023",
)
not_observable(
    "neg.answered-accept-held",
    "An Accept of an answered offer naming an escrow is held until that escrow's Stamp orders the answers",
    "the rule bites only under terms naming an escrow, and its point is the order a third party hears the "
    "answers and the Stamp in: "
    + _ESCROW
    + "; the vectors (chains.json AnsweredAccept) pin it, tests/test_neg29_answered_accept.py every order",
    "NEG-025",
)
not_observable(
    "neg.stamped-answer-takes-the-accepts-place",
    "The answer an escrow stamped takes the place of an Accept of the same offer it did not witness",
    "the rule bites only under terms naming an escrow, and its point is the order a third party hears the "
    "answers and the Stamp in: "
    + _ESCROW
    + "; the vectors (chains.json StampedAnswer) pin it, tests/test_neg30_answered_accept.py every order",
    "NEG-026",
)
not_observable(
    "neg.exclusive-key-held-by-escrow-offer",
    "A guard signs no offer of an exclusive_key an escrow may still bind elsewhere",
    "the rule bites only where an offer of the key names an escrow: "
    + _ESCROW
    + "; tests/test_attack10.py performs the attack against the reference peer",
    "NEG-020",
)
not_observable(
    "neg.counterparty-item-before-cutoff",
    "A guard signs no terms under which a counterparty item may fall due before the contract forms or bonds",
    "the rule bites only under terms naming an escrow: "
    + _ESCROW
    + "; tests/test_attack25.py performs the attack against the reference peer",
    "CMT-014",
)
not_observable(
    "esc.order-independence",
    "One final state whatever the order statements arrive in",
    _ESCROW + "; the precedence of section 8.9 is pinned by tests/test_confluence.py",
    "NEG-015",
)
not_observable(
    "esc.late-bond-lock-refused",
    "A BondLock issued after the bonding cutoff is refused",
    _ESCROW + "; the vectors (chains.json, CMT-010) pin the refusal, and esc.lapse-unbonded-at-cutoff checks "
    "that the target escrow signs no such lock",
    "CMT-010",
)
not_observable(
    "att.admissibility-twice",
    "At most one attestation per issuer and contract",
    "needs a settled escrowed contract (attestations rest on bonds, ATT-015); " + _ESCROW,
    "ATT-002",
    "ATT-015",
)
not_observable(
    "att.reputation-view",
    "Reputation aggregation, stake, ageing, trust propagation and scores",
    _REPUTATION,
    "ATT-003",
    "ATT-004",
    "ATT-005",
    "ATT-006",
    "ATT-007",
    "ATT-008",
    "ATT-009",
    "ATT-010",
    "ATT-013",
    "ATT-020",
    "ATT-021",
)
not_observable(
    "att.fork-proof-bound",
    "A bound on fork proofs against strangers never drops those against the dealings",
    "the bound's size is the target's configuration (the reference: 10,000), and reaching it would take "
    "the suite ten thousand fresh keys' fork proofs, each leaving the target treating a key as faulty for "
    "good (ATT-013); tests/test_gossip_eclipse.py fills a small bound of the reference peer: the proofs "
    "against its own key and its dealings kept past it, counted proofs never dropped, spared ones dropped "
    "when their key leaves the dealings, and all of it across a restart",
    "ATT-018",
)
not_observable(
    "att.swap-byte-bound",
    "A swap carries, and is taken up to, 60,000 bytes of envelopes",
    "what a target takes from a swap leaves no answer that says so: a proof dropped past the bound and one "
    "taken against a key of no dealings look alike from outside (the target neither refuses nor names "
    "them), and a target's own swap reaches the bound only once it holds more than 60,000 bytes of fork "
    "proofs, each against a key it then treats as faulty for good (ATT-013); "
    "tests/test_gossip_bytes.py takes a reference peer's swap of four 40,000-byte proofs up to the bound "
    "and an honest swap whole, within one request at RPC-008's least receive limit",
    "ATT-023",
)
not_observable(
    "att.trust-policy",
    "A configured trust policy refuses or demands bonds through the guard",
    "depends on the target's operator configuration (a threshold and seeds) that the suite cannot set or "
    "read",
    "ATT-016",
)
not_observable(
    "aud.escrow-audit",
    "The escrow audit's findings",
    _AUDIT,
    "AUD-001",
    "AUD-002",
    "AUD-003",
    "AUD-004",
    "AUD-005",
)
not_observable(
    "rpc.durability",
    "Write-ahead journaling before a response leaves",
    "crash durability shows only by killing the target between its write and its answer; "
    "tests/test_journal.py and reliability/ do that to the reference peer",
    "RPC-004",
)
not_observable(
    "rpc.deadline",
    "Clients set deadlines; a server stops work on an expired call",
    "the suite itself sets a deadline on every call (--timeout); whether the target stops work after a "
    "deadline cannot be seen from outside, since an abandoned call records nothing visible",
    "RPC-009",
)
not_observable(
    "chn.complete-mode",
    "Complete-chain verification of a log segment (CHAIN_GAP)",
    "live receivers verify sparse chains (CHN-006); complete mode applies to offline log segments: the "
    "vectors (chains.json) test it",
    "CHN-002",
)
not_observable(
    "tim.offline-reference-time",
    "Offline verification applies freshness only at a reference time",
    "offline verification is not a wire behaviour; the vectors' now_ms field tests it (a2a-coop verify)",
    "TIM-005",
)
not_observable(
    "ver.field-numbering",
    "New fields take numbers above existing ones",
    "a rule for revisions of the .proto files, not for a running peer; tools/gen_proto.py --check and "
    "tests/test_generated.py pin the shipped numbering",
    "VER-003",
)
not_observable(
    "env.json-form",
    "The DSSE JSON envelope form",
    "CooperationService carries binary envelopes only; the JSON form travels in the A2A binding's data "
    "Parts (a2a cases) and is tested offline by conformance/vectors/wire.json",
    "ENV-010",
)
not_observable(
    "neg.initiator-side",
    "Counter, Withdraw and the Accept of an expired offer",
    "needs the target to open the negotiation (the initiator role, through ConformanceControlService: "
    "cases/initiator.py); as a responder the target answers every offer at once, so the suite never holds "
    "its outstanding offer",
    "NEG-004",
    "NEG-007",
)
not_observable(
    "key.generation",
    "Keys come from a CSPRNG seed and are stored safely",
    "how a key was generated and stored leaves no trace in its public key or signatures",
    "KEY-006",
)
not_observable(
    "esc.open-contract-bound",
    "An escrow bounds open contracts per party",
    "showing the bound takes more open contracts than a run should leave at an escrow (the reference allows "
    "1000); tests/test_escrow.py checks it for the reference escrow",
    "CMT-008",
)
not_observable(
    "tim.dated-after-owed-deadline",
    "Nothing is signed dated ahead past a deadline the signer still owes; such a request is refused",
    "needs the target to owe an item it has not delivered, due within the skew: a target delivers an "
    "unbonded item as it accepts it, and a bonded one after locks from an escrow its operator configured, "
    "which the suite does not provision into it; tests/test_owed_deadline.py and "
    "tests/test_attack6.py check the reference peer",
    "TIM-009",
)
not_observable(
    "ctl.cancel-task-operator-only",
    "CancelTask withdraws only for the agent's operator",
    "who the target takes for its operator is its own configuration (the reference: a caller on its host, "
    "or one whose client certificate is configured as the operator's), and a suite on the target's host "
    "is one; a2a.cancel accepts the "
    "refusal a suite on another host gets, and tests/test_trust_gaps.py calls the reference from another "
    "address on every binding",
    "A2A-022",
)
not_observable(
    "ctl.private-tasks-operator-only",
    "An agent serving its Tasks privately shows them only to its operator, and to anyone else none",
    "whether the target serves its Tasks privately, and whom it takes for its operator, is its own "
    "configuration, and a suite on the target's host is its operator; tests/test_task_privacy.py calls "
    "the reference from another address on every binding",
    "A2A-025",
)
not_observable(
    "ctl.party-callers-by-certificate",
    "Behind mutual TLS a caller is judged by its certificate: a party sees only its own negotiations' Tasks",
    "needs the suite to call the target with client certificates signed by the target's client CA -- one "
    "naming a party, one naming another, one the operator's -- which the target's operator issues and the "
    "suite is not given; tests/test_party_tasks.py calls the reference with such certificates on every "
    "binding",
    "A2A-026",
)
not_observable(
    "mnd.renewal-sums-exposure",
    "After a renewal the guard counts the older Mandates' exposure against the new caps",
    "needs the target's principal to renew its Mandate with lower caps while the target runs (a restart "
    "with the new Mandate), which the suite cannot ask for; tests/test_trust_gaps.py checks the reference "
    "guard",
    "MND-018",
)
not_observable(
    "mnd.no-sub-delegation",
    "A key is a principal's or an agent's, never both (no sub-delegation)",
    "a target signs a Mandate only at its principal's command, off the wire, and the suite sees no chain of "
    "the target's beyond what it signs to the suite; tests/test_sub_delegation.py checks the reference "
    "`mandate` command and guard",
    "MND-021",
)
not_observable(
    "esc.restart-under-a-shorter-mandate",
    "An escrow does not begin signing under a Mandate ending before an open contract's last ruling",
    "an escrow's restart under another Mandate is its operator's act, off the wire, and the suite plays "
    "the escrow in its cases; tests/test_attack23.py checks the reference escrow's start",
    "ESC-021",
)
not_observable(
    "esc.hand-over",
    "A revoked escrow key's successor, appointed by its principal, speaks for its contracts",
    "needs an escrow key the target trusts (MND-015: its operator's configuration) revoked mid-contract and "
    "its principal's hand-over, which the suite cannot arrange with a target it does not configure (nor "
    "a successor's transcript to audit, which only a target started as a successor serves); "
    "tests/test_escrow_handover.py checks the reference verifier, escrow and audit, "
    "tests/test_escrow_handover_order.py two successors in every order, and conformance/vectors/keytime.json "
    "(EscrowHandOver) any verifier offline",
    "ESC-022",
    "ESC-023",
    "AUD-006",
)
not_observable(
    "cmt.revocable-delivery-held",
    "Under revocable terms a Delivery is held while the counterparty could revoke and keep it",
    "needs the target to trade under revocable terms at an escrow the suite plays, which it trusts only if "
    "its operator configured it (MND-015), and to be watched until close to a deadline; "
    "tests/test_revocable_hold.py and tests/test_attack13.py check the reference peer",
    "CMT-012",
)
not_observable(
    "wit.delivery-kept-for-the-counterparty",
    "A Delivery signed with nowhere to send it goes with every answer to the counterparty until receipted",
    "needs the target to sign a Delivery on its own -- a hold under revocable terms ending on its watch "
    "-- at an escrow the suite plays, which it trusts only if its operator configured it (MND-015), as "
    "for cmt.revocable-delivery-held; tests/test_attack24.py repeats the counterparty's request to the "
    "reference node and checks the counterparty still gets the Delivery, and "
    "tests/test_revocable_hold.py that it stops once receipted",
    "WIT-008",
)
not_observable(
    "rpc.stranger-quota",
    "Strangers' public statements are kept within a newcomer quota that never counts the dealings",
    "the quota's size is the target's configuration (the reference: 1,000 an hour), and reaching it would "
    "take the suite a thousand fresh keys and leave the target refusing the fresh identities the rest of "
    "the run needs (its clock-sync statements are strangers' public statements too); "
    "tests/test_stranger_quota.py and tests/test_attack14.py fill a small quota of the reference peer, "
    "tests/test_revocation_reserve.py its revocations' reserve (and the keys it then refuses), and "
    "rpc.rate-limit checks the shape of a RATE_LIMITED refusal",
    "RPC-016",
)
not_observable(
    "rpc.newcomer-offers",
    "Newcomers' opening Offers are taken within a budget a period that never counts the dealings",
    "the budget's size is the target's configuration (the reference: 2,000 an hour), and reaching it would "
    "take the suite thousands of fresh keys' Offers and leave the target refusing the fresh identities "
    "every later case, and every later run for the rest of the hour, trades under; "
    "tests/test_newcomer_offers.py fills a small budget of the reference peer, in process and served "
    "(`serve --newcomer-offers`), and rpc.rate-limit checks the shape of a RATE_LIMITED refusal",
    "RPC-017",
)
not_observable(
    "rpc.limits-count-the-issuers-own",
    "A server's per-issuer limits count only the new, current statements for it that it takes",
    "whether a target limits each issuer's requests, and how much, is its configuration (the reference "
    "peer limits none unless served with --max-rate or --max-in-flight), and a target that limits "
    "nothing answers a key's statements sent by anyone exactly as one that counts them right: the suite "
    "cannot tell the two apart without knowing the limit, and probing for it would leave the suite's "
    "keys refused for the rest of the run; tests/test_attack24.py sends a key's statements (one the "
    "reference peer took, one for another key, one expired) to a peer limiting 1 request/s and checks "
    "the key's own requests are taken, and rpc.rate-limit checks the shape of a RATE_LIMITED refusal",
    "RPC-018",
)
not_observable(
    "rpl.repeat-keeps-other-negotiations",
    "A repeat without the first context gets no answer of another negotiation that context moved",
    "needs the target to sign, in answer to a request, statements of another negotiation that a context "
    "envelope moved: what an honest peer signs so is performance it owes there (RPC-002), which only an "
    "Accept of the target's own offer or an escrow's locks make due -- and the reference peer counters no "
    "offer (it accepts or rejects) and trusts no escrow the suite plays (MND-015), while a context "
    "Delivery or Receipt moves nothing it signs; tests/test_resend_privacy.py has the reference peer's "
    "Delivery, made due by an Accept of its own offer handed over as context, kept from a bare repeat "
    "over gRPC and A2A and given whole to a repeat with the first context, and rpl.retry-same-answer "
    "checks a repeat's answer",
    "RPC-020",
)
not_observable(
    "rpc.client-paging",
    "A client checks that each of a server's pages moves its read on, and bounds the read",
    "a rule for the client reading pages, and no control action asks a target to page through a "
    "server's reads (its initiator role offers, delivers and settles); tests/test_paging.py puts "
    "hostile servers (pages that never end, never advance, go back, repeat a token, or are huge) in "
    "front of the reference clients and the CLI",
    "RPC-019",
)
not_observable(
    "esc.stranger-quota",
    "An escrow takes strangers' statements of no negotiation within a newcomer quota, and those of each "
    "key in its dealings that no trade there needs within a per-key count its trades' statements raise",
    "the quota's size is the target escrow's configuration (the reference: 1,000 an hour), and reaching it "
    "would take the suite a thousand fresh keys and leave the target refusing the fresh identities the "
    "rest of the run submits (the escrow cases' parties have no funds or contract there before their "
    "first Submit; a run of the escrow cases spends 28 of the reference's 1,000); "
    "tests/test_escrow_stranger_quota.py fills a small quota of the reference escrow, over gRPC too, "
    "tests/test_revocation_reserve.py its revocations' reserve (and the keys it then refuses), "
    "tests/test_escrow_dealings_quota.py a small count of a key in its dealings (and 300 bonded trades "
    "an hour with one counterparty under the served defaults, none refused), and rpc.rate-limit checks "
    "the shape of a RATE_LIMITED refusal",
    "ESC-017",
)
not_observable(
    "key.claim-or-revoke-after-revocation",
    "A BreachClaim, Revoke or Receipt stamped after its key's revocation is KEY_REVOKED, whatever its date",
    "the case would have the suite's principal revoke one of its party keys at the target escrow, which "
    "every later escrow case trades with; tests/test_attack20.py performs the race (a thief's Revoke dated "
    "before the principal's revocation, submitted after it) against the reference escrow and its audit, "
    "tests/test_attack21.py the same with a thief's Receipt",
    "KEY-010",
)
not_observable(
    "esc.clock-behind-chain",
    "An escrow dates and judges by a clock never behind its own chain's head",
    "the suite cannot step a target escrow's machine clock back, nor restart it without its test clock's "
    "offset; tests/test_attack26_escrow_clock_back.py steps the reference escrow's clock back within a run "
    "and across a restart, and restarts it without the offset its chain was dated by",
    "WIT-009",
)
not_observable(
    "rpc.a2a-cut-answer",
    "An A2A answer past 2 MiB goes in parts, the rest read by the same message from nextAnswer",
    "as for rpc.cut-answer: the suite cannot make a target's answer pass 2 MiB without trading with it "
    "hundreds of times or sending context larger than a target must take (RPC-008); "
    "tests/test_a2a_cut_answers.py has the reference answer 4.8 MB on each A2A binding, read whole by a "
    "stock a2a-sdk client in three parts",
    "A2A-028",
)
not_observable(
    "rpc.cut-answer",
    "An answer past one response goes in parts, the rest read by the same request from next_answer",
    "the suite cannot make a target's answer pass 4 MiB without trading with it hundreds of times or "
    "sending context larger than a target must take (RPC-008); tests/test_cut_answers.py has a server in "
    "a subprocess answer 4.8 MB, read whole by the blocking and trio clients, each request recorded once",
    "RPC-021",
)
