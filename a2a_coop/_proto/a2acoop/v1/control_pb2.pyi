from a2a_coop._proto.a2acoop.v1 import trade_pb2 as _trade_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InitiateRequest(_message.Message):
    __slots__ = ("counterparty_url", "counterparty", "context", "proposal", "ttl_ms")
    COUNTERPARTY_URL_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    counterparty_url: str
    counterparty: str
    context: _containers.RepeatedScalarFieldContainer[bytes]
    proposal: _trade_pb2.Offer
    ttl_ms: int
    def __init__(self, counterparty_url: _Optional[str] = ..., counterparty: _Optional[str] = ..., context: _Optional[_Iterable[bytes]] = ..., proposal: _Optional[_Union[_trade_pb2.Offer, _Mapping]] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class InitiateResponse(_message.Message):
    __slots__ = ("negotiation_id", "envelopes")
    NEGOTIATION_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    negotiation_id: bytes
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, negotiation_id: _Optional[bytes] = ..., envelopes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AdvanceClockRequest(_message.Message):
    __slots__ = ("by_ms",)
    BY_MS_FIELD_NUMBER: _ClassVar[int]
    by_ms: int
    def __init__(self, by_ms: _Optional[int] = ...) -> None: ...

class AdvanceClockResponse(_message.Message):
    __slots__ = ("now_ms", "offset_ms")
    NOW_MS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    now_ms: int
    offset_ms: int
    def __init__(self, now_ms: _Optional[int] = ..., offset_ms: _Optional[int] = ...) -> None: ...
