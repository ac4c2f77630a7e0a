"""The A2A binding (SPEC section 14), when the target offers it (``--a2a-url``): the AgentCard and
its link to CooperationService. Without an A2A URL every case here is SKIP (the binding is optional);
the message-level cases (Parts, Tasks, errors) are in :mod:`.a2a_messages`. A2A's own rules are the
A2A TCK's (conformance/a2a_tck.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from a2a_coop.protocol.envelope import decode_envelope, statement_digest
from conformance.suite.cases._a2a_rpc import CARD_PATH, EXTENSION_URI
from conformance.suite.context import Context
from conformance.suite.model import Capability, CaseFailed, Level, Outcome, Role, case

PARAMS = (
    "did",
    "publicKeys",
    "principal",
    "mandate",
    "mandateEnvelope",
    "protocolVersions",
    "payloadType",
    "mediaTypes",
    "commitmentKinds",
    "acceptedEscrows",
    "cooperationService",
)


def _card(ctx: Context) -> tuple[dict[str, Any], dict[str, str]]:
    url = (ctx.session.a2a_url or "").rstrip("/") + CARD_PATH
    try:
        with urllib.request.urlopen(url, timeout=ctx.session.timeout_s) as resp:  # the user's URL
            headers = {k.lower(): v for k, v in resp.headers.items()}
            card = json.loads(resp.read())
            ctx.record(f"HTTP GET {url}", {}, {"status": resp.status, "headers": headers})
            return card, headers
    except (urllib.error.URLError, OSError, ValueError) as exc:
        ctx.record(f"HTTP GET {url}", {}, None, str(exc))
        raise CaseFailed(f"cannot fetch the AgentCard at {url}: {exc}") from None


def _extension(card: dict[str, Any]) -> dict[str, Any]:
    for ext in card.get("capabilities", {}).get("extensions", []):
        if ext.get("uri") == EXTENSION_URI:
            return dict(ext)
    raise CaseFailed(f"the AgentCard's capabilities.extensions does not list {EXTENSION_URI} (A2A-001)")


def skip_without_a2a_url(ctx: Context) -> Outcome | None:
    """SKIP without ``--a2a-url``: the binding is optional."""
    if not ctx.session.a2a_url:
        return Outcome.skipped("no --a2a-url: the target's A2A binding was not declared (it is optional)")
    return None


@case(
    "a2a.card",
    "The AgentCard lists the extension, required: false, with every params member",
    "A2A-001",
    "A2A-002",
    role=Role.A2A,
    capability=Capability.A2A,
)
def card(ctx: Context) -> Outcome:
    """GET /.well-known/agent-card.json: capabilities.extensions lists the a2a-coop URI with required
    false (written out) and every member of section 14.1's params table; params.mandate is the digest
    of params.mandateEnvelope, a Mandate delegating to params.did."""
    if (skipped := skip_without_a2a_url(ctx)) is not None:
        return skipped
    ext = _extension(_card(ctx)[0])
    ctx.must(
        ext.get("required") is False,
        "the extension's 'required' is not written out as false (A2A-002, A2A-021)",
    )
    params = ext.get("params", {})
    missing = [m for m in PARAMS if m not in params]
    ctx.must(not missing, f"params lacks {', '.join(missing)} (A2A-002)")
    import base64

    env = base64.b64decode(params["mandateEnvelope"])
    ctx.must(
        statement_digest(decode_envelope(env).payload).hex() == params["mandate"],
        "params.mandate is not the digest of params.mandateEnvelope",
    )
    return Outcome.passed("the card declares the extension with every params member")


@case(
    "a2a.card-links-grpc",
    "The card's cooperationService is this target's CooperationService, same key and mandate",
    "A2A-013",
    role=Role.A2A,
    capability=Capability.A2A,
)
def card_links_grpc(ctx: Context) -> Outcome:
    """params.did must be the did:key the target's CooperationService signs with, and params.mandate
    its Mandate."""
    if (skipped := skip_without_a2a_url(ctx)) is not None:
        return skipped
    params = _extension(_card(ctx)[0]).get("params", {})
    ctx.must(
        params.get("did") == ctx.target,
        f"the card names {params.get('did')}, the gRPC endpoint signs as {ctx.target}",
    )
    if ctx.session.info.mandate:
        ours = ctx.session.info.mandate_digest.hex()
        ctx.must(
            params.get("mandate") == ours, "the card's mandate is not the one the gRPC endpoint signs under"
        )
    return Outcome.passed("same key and mandate on both bindings")


@case(
    "a2a.interfaces",
    "supportedInterfaces lists each binding with protocolVersion 1.0 and a reachable URL",
    "A2A-015",
    role=Role.A2A,
    capability=Capability.A2A,
)
def interfaces(ctx: Context) -> Outcome:
    """Every supportedInterfaces entry has protocolVersion "1.0" and a URL that is not a wildcard address."""
    if (skipped := skip_without_a2a_url(ctx)) is not None:
        return skipped
    entries = _card(ctx)[0].get("supportedInterfaces", [])
    ctx.must(bool(entries), "supportedInterfaces is empty")
    for e in entries:
        ctx.must(
            e.get("protocolVersion") == "1.0",
            f"interface {e.get('url')} has protocolVersion {e.get('protocolVersion')!r}",
        )
        url = str(e.get("url", ""))
        ctx.must(
            bool(url) and "0.0.0.0" not in url and "[::]" not in url,
            f"interface URL {url!r} is not reachable",
        )
    return Outcome.passed(f"{len(entries)} interfaces, each 1.0 with a URL")


@case(
    "a2a.card-caching",
    "The card endpoint answers with ETag, Cache-Control and Last-Modified",
    "A2A-021",
    role=Role.A2A,
    capability=Capability.A2A,
)
def card_caching(ctx: Context) -> Outcome:
    """A missing ETag, Cache-Control: max-age or Last-Modified is NON-STRICT (a SHOULD)."""
    if (skipped := skip_without_a2a_url(ctx)) is not None:
        return skipped
    headers = _card(ctx)[1]
    missing = [h for h in ("etag", "last-modified") if h not in headers]
    if "max-age" not in headers.get("cache-control", ""):
        missing.append("cache-control: max-age")
    if missing:
        raise CaseFailed(f"the card's answer lacks {', '.join(missing)}", Level.NON_STRICT)
    return Outcome.passed("ETag, Cache-Control and Last-Modified present")
