from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_FULFILLED: _ClassVar[Outcome]
    OUTCOME_LATE: _ClassVar[Outcome]
    OUTCOME_PARTIAL: _ClassVar[Outcome]
    OUTCOME_BREACHED: _ClassVar[Outcome]
    OUTCOME_REVOKED: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_FULFILLED: Outcome
OUTCOME_LATE: Outcome
OUTCOME_PARTIAL: Outcome
OUTCOME_BREACHED: Outcome
OUTCOME_REVOKED: Outcome

class Attestation(_message.Message):
    __slots__ = ("subject", "offer", "accept", "outcome", "evidence", "rating")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    subject: str
    offer: bytes
    accept: bytes
    outcome: Outcome
    evidence: _containers.RepeatedScalarFieldContainer[bytes]
    rating: int
    def __init__(self, subject: _Optional[str] = ..., offer: _Optional[bytes] = ..., accept: _Optional[bytes] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., evidence: _Optional[_Iterable[bytes]] = ..., rating: _Optional[int] = ...) -> None: ...
