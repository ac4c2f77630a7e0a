from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExchangeRequest(_message.Message):
    __slots__ = ("envelope", "context", "answer_from")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FROM_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    context: _containers.RepeatedScalarFieldContainer[bytes]
    answer_from: int
    def __init__(self, envelope: _Optional[bytes] = ..., context: _Optional[_Iterable[bytes]] = ..., answer_from: _Optional[int] = ...) -> None: ...

class ExchangeResponse(_message.Message):
    __slots__ = ("envelopes", "next_answer")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    NEXT_ANSWER_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    next_answer: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., next_answer: _Optional[int] = ...) -> None: ...

class NegotiateRequest(_message.Message):
    __slots__ = ("envelope", "context", "answer_from")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FROM_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    context: _containers.RepeatedScalarFieldContainer[bytes]
    answer_from: int
    def __init__(self, envelope: _Optional[bytes] = ..., context: _Optional[_Iterable[bytes]] = ..., answer_from: _Optional[int] = ...) -> None: ...

class NegotiateResponse(_message.Message):
    __slots__ = ("envelopes", "next_answer")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    NEXT_ANSWER_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    next_answer: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., next_answer: _Optional[int] = ...) -> None: ...

class GetLogRequest(_message.Message):
    __slots__ = ("from_seq", "limit")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    limit: int
    def __init__(self, from_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetLogResponse(_message.Message):
    __slots__ = ("envelopes", "head_seq", "next_seq")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQ_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    head_seq: int
    next_seq: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., head_seq: _Optional[int] = ..., next_seq: _Optional[int] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    def __init__(self, envelope: _Optional[bytes] = ...) -> None: ...

class GetAttestationsRequest(_message.Message):
    __slots__ = ("subject", "limit", "page_token")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subject: str
    limit: int
    page_token: str
    def __init__(self, subject: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetAttestationsResponse(_message.Message):
    __slots__ = ("bundles", "next_page_token")
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bundles: _containers.RepeatedCompositeFieldContainer[EvidenceBundle]
    next_page_token: str
    def __init__(self, bundles: _Optional[_Iterable[_Union[EvidenceBundle, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GossipRequest(_message.Message):
    __slots__ = ("envelopes", "proofs")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    PROOFS_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    proofs: _containers.RepeatedCompositeFieldContainer[ForkProof]
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., proofs: _Optional[_Iterable[_Union[ForkProof, _Mapping]]] = ...) -> None: ...

class GossipResponse(_message.Message):
    __slots__ = ("envelopes", "proofs")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    PROOFS_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    proofs: _containers.RepeatedCompositeFieldContainer[ForkProof]
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., proofs: _Optional[_Iterable[_Union[ForkProof, _Mapping]]] = ...) -> None: ...

class ForkProof(_message.Message):
    __slots__ = ("first", "second", "revocations", "stamps")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    REVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    STAMPS_FIELD_NUMBER: _ClassVar[int]
    first: bytes
    second: bytes
    revocations: _containers.RepeatedScalarFieldContainer[bytes]
    stamps: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, first: _Optional[bytes] = ..., second: _Optional[bytes] = ..., revocations: _Optional[_Iterable[bytes]] = ..., stamps: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EvidenceBundle(_message.Message):
    __slots__ = ("envelopes",)
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("envelopes", "answer_from")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FROM_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    answer_from: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., answer_from: _Optional[int] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("envelopes", "next_answer")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    NEXT_ANSWER_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    next_answer: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., next_answer: _Optional[int] = ...) -> None: ...

class GetLedgerRequest(_message.Message):
    __slots__ = ("from_seq", "limit")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    limit: int
    def __init__(self, from_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetLedgerResponse(_message.Message):
    __slots__ = ("envelopes", "head_seq")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    head_seq: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., head_seq: _Optional[int] = ...) -> None: ...

class GetTranscriptRequest(_message.Message):
    __slots__ = ("from_seq", "limit", "opening_from")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OPENING_FROM_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    limit: int
    opening_from: int
    def __init__(self, from_seq: _Optional[int] = ..., limit: _Optional[int] = ..., opening_from: _Optional[int] = ...) -> None: ...

class GetTranscriptResponse(_message.Message):
    __slots__ = ("envelopes", "head_seq", "next_seq", "next_opening")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQ_FIELD_NUMBER: _ClassVar[int]
    NEXT_OPENING_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    head_seq: int
    next_seq: int
    next_opening: int
    def __init__(self, envelopes: _Optional[_Iterable[bytes]] = ..., head_seq: _Optional[int] = ..., next_seq: _Optional[int] = ..., next_opening: _Optional[int] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("party",)
    PARTY_FIELD_NUMBER: _ClassVar[int]
    party: str
    def __init__(self, party: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("available", "locked", "currency", "as_of_seq")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AS_OF_SEQ_FIELD_NUMBER: _ClassVar[int]
    available: int
    locked: int
    currency: str
    as_of_seq: int
    def __init__(self, available: _Optional[int] = ..., locked: _Optional[int] = ..., currency: _Optional[str] = ..., as_of_seq: _Optional[int] = ...) -> None: ...
