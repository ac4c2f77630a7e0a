"""A2A's JSON-RPC 2.0 binding from the suite's side: plain HTTP (urllib), so the A2A cases need no
A2A SDK. Every call goes into the case's transcript (``ctx.record``), envelopes shown as who said what.

The JSON-RPC endpoint is the ``JSONRPC`` entry of the card's ``supportedInterfaces`` (A2A-015);
a target that lists none is driven at its ``--a2a-url`` itself, where A2A puts JSON-RPC by default.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from a2a_coop.protocol.envelope import envelope_from_json, envelope_to_json
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.transport.paging import CutAnswer, CutAnswerViolation
from conformance.suite.context import Context, EndpointError, describe
from conformance.suite.model import CaseFailed

EXTENSION_URI: Final = "https://a2a-coop.dev/ext/coop/v1"
ENVELOPE_MEDIA_TYPE: Final = "application/vnd.a2acoop.envelope.v1+protobuf"
ENVELOPE_JSON_MEDIA_TYPE: Final = "application/vnd.a2acoop.envelope.v1+json"
CARD_PATH: Final = "/.well-known/agent-card.json"
ARTIFACTS_FROM: Final = "A2A-Coop-Artifacts-From"  # GetTask's service parameter, A2A-028 (a)
# A part of a Task's Artifacts (A2A-028 (a)), which no one Artifact passes: at most six envelopes of 64 KiB.
MAX_ARTIFACT_BYTES: Final = 1024 * 1024
ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"

_endpoints: dict[str, tuple[str, dict[str, Any]]] = {}  # a2a_url -> (JSON-RPC URL, card)


@dataclass
class RpcReply:
    """One JSON-RPC answer as received: HTTP status and headers, then ``result`` or ``error``
    (for a stream: every event's ``result`` in ``events``)."""

    http_status: int
    headers: dict[str, str]
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """The A2A error reason: the ErrorInfo of domain a2a-protocol.org in ``error.data``."""
        info = self._info()
        return str(info.get("reason", "")) if info else ""

    @property
    def metadata(self) -> dict[str, str]:
        info = self._info()
        return dict(info.get("metadata", {})) if info else {}

    @property
    def code(self) -> int | None:
        return None if self.error is None else int(self.error.get("code", 0))

    def _info(self) -> dict[str, Any] | None:
        data = (self.error or {}).get("data")
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and item.get("reason"):
                return item
        return None

    def summary(self) -> str:
        if self.error is not None:
            return f"error {self.code} {self.reason or ''}: {self.error.get('message', '')}".strip()
        return "ok"


def message(
    envelopes: Sequence[bytes],
    *,
    form: str = "raw",
    task_id: str = "",
    context_id: str = "",
    extensions: Sequence[str] = (),
    before: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A user Message (A2A JSON) with one Part per envelope (A2A-005/006), after the Parts ``before``."""
    parts = [*before, *(part(e, form=form) for e in envelopes)]
    msg: dict[str, Any] = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": parts}
    if task_id:
        msg["taskId"] = task_id
    if context_id:
        msg["contextId"] = context_id
    if extensions:
        msg["extensions"] = list(extensions)
    return msg


def part(envelope: bytes, *, form: str = "raw") -> dict[str, Any]:
    if form == "raw":
        return {"raw": base64.b64encode(envelope).decode(), "mediaType": ENVELOPE_MEDIA_TYPE}
    return {"data": envelope_to_json(envelope), "mediaType": ENVELOPE_JSON_MEDIA_TYPE}


def envelopes_of(parts: Sequence[dict[str, Any]]) -> list[bytes]:
    """The envelopes of the a2a-coop Parts among ``parts``, in order.

    Raises:
        CaseFailed: an a2a-coop Part the target sent does not hold an envelope in its declared form.
    """
    out = []
    for p in parts:
        media = p.get("mediaType")
        try:
            if media == ENVELOPE_MEDIA_TYPE and "raw" in p:
                out.append(base64.b64decode(p["raw"]))
            elif media == ENVELOPE_JSON_MEDIA_TYPE and "data" in p:
                out.append(envelope_from_json(p["data"]))
            elif media in (ENVELOPE_MEDIA_TYPE, ENVELOPE_JSON_MEDIA_TYPE):
                raise CaseFailed(f"the target sent a Part of media type {media} in the wrong form (A2A-006)")
        except (ValueError, CoopError) as exc:
            raise CaseFailed(f"the target sent an a2a-coop Part that holds no envelope: {exc}") from None
    return out


class _Part(NamedTuple):
    """One response's part of an answer (or of a Task's Artifacts), as :class:`CutAnswer` takes one."""

    envelopes: list[Any]
    next_answer: int


def answers(task: dict[str, Any]) -> list[bytes]:
    """The signed answers a Task carries: its ``status.message`` Parts (A2A-008)."""
    return envelopes_of(task.get("status", {}).get("message", {}).get("parts", []))


def _shown(value: Any) -> Any:
    """The request for the transcript: envelope Parts as who said what."""
    if isinstance(value, dict):
        if value.get("mediaType") == ENVELOPE_MEDIA_TYPE and isinstance(value.get("raw"), str):
            try:
                return {
                    "mediaType": ENVELOPE_MEDIA_TYPE,
                    "envelope": describe(base64.b64decode(value["raw"])),
                }
            except ValueError:
                return value
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


class A2AClient:
    """JSON-RPC calls to the target's A2A endpoint for one case."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        base = (ctx.session.a2a_url or "").rstrip("/")
        if base not in _endpoints:
            _endpoints[base] = self._discover(base)
        self.url, self.card = _endpoints[base]

    def _discover(self, base: str) -> tuple[str, dict[str, Any]]:
        url = base + CARD_PATH
        try:
            with urllib.request.urlopen(url, timeout=self.ctx.session.timeout_s) as resp:  # the user's URL
                card: dict[str, Any] = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.ctx.record(f"HTTP GET {url}", {}, None, str(exc))
            raise CaseFailed(f"cannot fetch the AgentCard at {url}: {exc}") from None
        self.ctx.record(f"HTTP GET {url}", {}, {"status": 200})
        jsonrpc = [
            i.get("url", "")
            for i in card.get("supportedInterfaces", [])
            if i.get("protocolBinding") == "JSONRPC"
        ]
        return (jsonrpc[0] if jsonrpc and jsonrpc[0] else base + "/"), card

    @property
    def rest_url(self) -> str:
        """The HTTP+JSON interface's base URL from the card, or empty if it lists none."""
        for i in self.card.get("supportedInterfaces", []):
            if i.get("protocolBinding") == "HTTP+JSON" and i.get("url"):
                return str(i["url"]).rstrip("/")
        return ""

    def rest(self, method: str, path: str, *, version: str = "1.0", note: str = "") -> RpcReply:
        """One HTTP+JSON request (no body, or ``{}`` for a POST); the reply's ``error`` is A2A's
        error body (``code`` is then the HTTP status)."""
        url = self.rest_url + path
        headers = {
            "A2A-Version": version,
            "A2A-Extensions": EXTENSION_URI,
            "Content-Type": "application/json",
        }
        data = b"{}" if method == "POST" else None
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.ctx.session.timeout_s) as resp:  # the user's URL
                status, raw, got = resp.status, resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as err:
            status, raw, got = err.code, err.read(), dict(err.headers.items())
            err.close()
        except (urllib.error.URLError, OSError) as exc:
            self.ctx.record(f"A2A HTTP+JSON {method} {path}", {"note": note}, None, str(exc))
            raise EndpointError("A2A endpoint", url, str(exc)) from None
        reply = RpcReply(status, {k.lower(): v for k, v in got.items()})
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        if status >= 400:
            error = doc.get("error") if isinstance(doc, dict) else None
            reply.error = (
                dict(error) if isinstance(error, dict) else {"message": raw[:200].decode(errors="replace")}
            )
            reply.error["code"] = status
            reply.error.setdefault("data", reply.error.get("details", []))
        else:
            reply.result = doc if isinstance(doc, dict) else {}
        self.ctx.record(
            f"A2A HTTP+JSON {method} {path}",
            {"note": note, "headers": headers},
            {"http_status": status},
            "" if reply.error is None else reply.summary(),
        )
        return reply

    @property
    def streaming(self) -> bool:
        return bool(self.card.get("capabilities", {}).get("streaming"))

    def call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        activate: bool = True,
        version: str | None = "1.0",
        note: str = "",
        body: bytes | None = None,
        content_type: str = "application/json",
        service_parameters: dict[str, str] | None = None,
    ) -> RpcReply:
        """POST one JSON-RPC request (``body`` replaces the encoded request, for malformed ones), with
        ``service_parameters`` as headers."""
        headers = {"Content-Type": content_type, "Accept": "application/json, text/event-stream"}
        headers.update(service_parameters or {})
        if version is not None:
            headers["A2A-Version"] = version
        if activate:
            headers["A2A-Extensions"] = EXTENSION_URI
        request = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
        data = json.dumps(request).encode() if body is None else body
        shown: dict[str, Any] = {"note": note, "headers": headers}
        shown.update(
            {"body": body.decode(errors="replace")[:200]} if body is not None else {"params": _shown(params)}
        )
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.ctx.session.timeout_s) as resp:  # the user's URL
                reply = self._read(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            reply = self._read(err.code, dict(err.headers.items()), err.read())
            err.close()
        except (urllib.error.URLError, OSError) as exc:
            self.ctx.record(f"A2A JSON-RPC {method}", shown, None, str(exc))
            raise EndpointError("A2A endpoint", self.url, str(exc)) from None
        response = {
            "http_status": reply.http_status,
            "a2a-extensions": reply.headers.get("a2a-extensions", ""),
            "result": _shown(reply.result) if reply.result is not None else None,
            "events": len(reply.events),
        }
        self.ctx.record(
            f"A2A JSON-RPC {method}", shown, response, "" if reply.error is None else reply.summary()
        )
        return reply

    @staticmethod
    def _read(status: int, headers: dict[str, str], raw: bytes) -> RpcReply:
        headers = {k.lower(): v for k, v in headers.items()}
        reply = RpcReply(status, headers)
        if headers.get("content-type", "").startswith("text/event-stream"):
            for line in raw.decode(errors="replace").splitlines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if "error" in event:
                        reply.error = event["error"]
                    else:
                        reply.events.append(event.get("result", {}))
            return reply
        try:
            doc = json.loads(raw)
        except ValueError:
            reply.error = {"code": 0, "message": f"HTTP {status}: not JSON: {raw[:200]!r}"}
            return reply
        if isinstance(doc, dict) and "error" in doc:
            reply.error = doc["error"]
        elif isinstance(doc, dict):
            reply.result = doc.get("result")
        return reply

    # -- a2a-coop on top ------------------------------------------------------------------------

    def send(
        self,
        vs: VerifiedStatement,
        context: Sequence[bytes] = (),
        *,
        note: str = "",
        **msg: Any,
    ) -> tuple[dict[str, Any], list[VerifiedStatement]]:
        """SendMessage with one of the suite's valid statements: it must be accepted as a Task whose
        status message holds the target's answers, each verified by the shadow verifier.

        Returns:
            The Task (JSON) and the answers, in order.
        """
        sent = message([*context, vs.envelope], **msg)
        whole = CutAnswer()
        start = -1
        while start:  # the first part, then the rest of a cut answer (A2A-028)
            if start > 0:
                sent = {
                    **sent,
                    "messageId": str(uuid.uuid4()),
                    "metadata": {"a2aCoop": {"answerFrom": start}},
                }
            part_note = note if start < 0 else f"the rest of a cut answer, from {start}"
            reply = self.call("SendMessage", {"message": sent}, note=part_note)
            if reply.error is not None:
                raise CaseFailed(f"the target refused a valid {vs.body} sent over A2A: {reply.summary()}")
            got = (reply.result or {}).get("task")
            if not isinstance(got, dict):
                raise CaseFailed(
                    f"SendMessage with our {vs.body} did not answer a Task (A2A-008): {reply.result}"
                )
            task: dict[str, Any] = got
            next_answer = _coop_index(task.get("status", {}).get("message", {}), "nextAnswer")
            try:
                start = whole.take(_Part(answers(task), next_answer))
            except CutAnswerViolation as exc:
                raise CaseFailed(f"{exc.details} (A2A-028)") from None
        for env in context:
            self.ctx.hold(env)
        self.ctx.sent(vs)
        signed = whole.envelopes
        self.ctx.session.record_signed(signed)
        return task, self.ctx.verify_signed(signed, what=f"the Task's answer to our {vs.body}")

    def get_task(self, task_id: str, *, note: str = "") -> dict[str, Any]:
        """GetTask of ``task_id`` with every Artifact: a Task whose Artifacts come in parts (its
        ``metadata.a2aCoop.nextArtifact``) is read on by GetTask from there, with the
        ``A2A-Coop-Artifacts-From`` service parameter, until a part carries none; the parts joined in
        order, each ``artifactId`` once, the Task otherwise the last part's (A2A-028 (a)). One GetTask
        judged an agent holding over 1 MiB of Artifacts on the first part alone.

        Raises:
            CaseFailed: a GetTask was refused, or its parts break A2A-028 (a).
        """
        parts = CutAnswer()
        artifacts: dict[str, dict[str, Any]] = {}
        start = 0
        while True:
            params = {ARTIFACTS_FROM: str(start)} if start else None
            part_note = note if not start else f"{note}: the rest of its Artifacts, from {start}"
            reply = self.call("GetTask", {"id": task_id}, note=part_note, service_parameters=params)
            if reply.error is not None or not isinstance(reply.result, dict):
                raise CaseFailed(f"GetTask {task_id}: {reply.summary()}")
            task = reply.result
            held = [a for a in task.get("artifacts", []) if isinstance(a, dict)]
            for artifact in held:
                size = sum(map(len, envelopes_of(artifact.get("parts", []))))
                if size > MAX_ARTIFACT_BYTES:
                    raise CaseFailed(
                        f"GetTask {task_id}: an Artifact of {size} bytes of envelopes, past a part's "
                        f"{MAX_ARTIFACT_BYTES} (A2A-028 (a))"
                    )
                artifacts.setdefault(str(artifact.get("artifactId")), artifact)
            try:
                start = parts.take(_Part(held, _coop_index(task, "nextArtifact")))
            except CutAnswerViolation as exc:
                raise CaseFailed(f"GetTask {task_id}: {exc.details} (A2A-028 (a))") from None
            if not start:
                break
        if artifacts:
            task = {**task, "artifacts": list(artifacts.values())}
        return task  # the last part's: it carries no nextArtifact


def _coop_index(obj: dict[str, Any], key: str) -> int:
    """``metadata.a2aCoop.<key>`` of a Message or Task (A2A JSON) as an index (``nextAnswer``,
    ``nextArtifact``, A2A-028): 0 when absent, -1 when it is no whole number -- a part that cannot go on."""
    coop = obj.get("metadata", {}).get("a2aCoop", {}) if isinstance(obj.get("metadata"), dict) else {}
    value = coop.get(key, 0) if isinstance(coop, dict) else 0
    return int(value) if isinstance(value, int | float) and float(value).is_integer() else -1


def expect_error(reply: RpcReply, reason: str, code: int, *, what: str) -> None:
    """``reply`` must be A2A's error ``reason`` with JSON-RPC ``code`` (A2A section 5.4, A2A-019).

    Raises:
        CaseFailed: it was answered, or refused otherwise.
    """
    if reply.error is None:
        raise CaseFailed(f"the target answered {what}; expected A2A's {reason} ({code})")
    if reply.code != code or (reply.reason and reply.reason != reason):
        raise CaseFailed(
            f"{what} was refused with {reply.summary()}; expected A2A's {reason} ({code}, A2A-019)"
        )
