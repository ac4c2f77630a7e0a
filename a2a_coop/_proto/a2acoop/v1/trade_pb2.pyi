from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ItemKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_KIND_UNSPECIFIED: _ClassVar[ItemKind]
    ITEM_KIND_SERVICE: _ClassVar[ItemKind]
    ITEM_KIND_RESOURCE: _ClassVar[ItemKind]
    ITEM_KIND_CREDIT: _ClassVar[ItemKind]

class ClaimKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLAIM_KIND_UNSPECIFIED: _ClassVar[ClaimKind]
    CLAIM_KIND_NEED: _ClassVar[ClaimKind]
    CLAIM_KIND_HOLDING: _ClassVar[ClaimKind]
    CLAIM_KIND_RESERVATION_VALUE: _ClassVar[ClaimKind]
ITEM_KIND_UNSPECIFIED: ItemKind
ITEM_KIND_SERVICE: ItemKind
ITEM_KIND_RESOURCE: ItemKind
ITEM_KIND_CREDIT: ItemKind
CLAIM_KIND_UNSPECIFIED: ClaimKind
CLAIM_KIND_NEED: ClaimKind
CLAIM_KIND_HOLDING: ClaimKind
CLAIM_KIND_RESERVATION_VALUE: ClaimKind

class Item(_message.Message):
    __slots__ = ("kind", "category", "description", "quantity", "unit", "value", "deadline_ms", "spec_digest")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    SPEC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    kind: ItemKind
    category: str
    description: str
    quantity: int
    unit: str
    value: int
    deadline_ms: int
    spec_digest: bytes
    def __init__(self, kind: _Optional[_Union[ItemKind, str]] = ..., category: _Optional[str] = ..., description: _Optional[str] = ..., quantity: _Optional[int] = ..., unit: _Optional[str] = ..., value: _Optional[int] = ..., deadline_ms: _Optional[int] = ..., spec_digest: _Optional[bytes] = ...) -> None: ...

class Revocation(_message.Message):
    __slots__ = ("allowed", "forfeit_bond", "notice_ms")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    FORFEIT_BOND_FIELD_NUMBER: _ClassVar[int]
    NOTICE_MS_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    forfeit_bond: bool
    notice_ms: int
    def __init__(self, allowed: _Optional[bool] = ..., forfeit_bond: _Optional[bool] = ..., notice_ms: _Optional[int] = ...) -> None: ...

class Terms(_message.Message):
    __slots__ = ("currency", "issuer_bond", "audience_bond", "escrow", "revocation", "response_window_ms")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ISSUER_BOND_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_BOND_FIELD_NUMBER: _ClassVar[int]
    ESCROW_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_WINDOW_MS_FIELD_NUMBER: _ClassVar[int]
    currency: str
    issuer_bond: int
    audience_bond: int
    escrow: str
    revocation: Revocation
    response_window_ms: int
    def __init__(self, currency: _Optional[str] = ..., issuer_bond: _Optional[int] = ..., audience_bond: _Optional[int] = ..., escrow: _Optional[str] = ..., revocation: _Optional[_Union[Revocation, _Mapping]] = ..., response_window_ms: _Optional[int] = ...) -> None: ...

class Claim(_message.Message):
    __slots__ = ("kind", "subject", "amount", "commitment")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    kind: ClaimKind
    subject: str
    amount: int
    commitment: bytes
    def __init__(self, kind: _Optional[_Union[ClaimKind, str]] = ..., subject: _Optional[str] = ..., amount: _Optional[int] = ..., commitment: _Optional[bytes] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("gives", "wants", "terms", "exclusive_key", "claims")
    GIVES_FIELD_NUMBER: _ClassVar[int]
    WANTS_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIVE_KEY_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    gives: _containers.RepeatedCompositeFieldContainer[Item]
    wants: _containers.RepeatedCompositeFieldContainer[Item]
    terms: Terms
    exclusive_key: bytes
    claims: _containers.RepeatedCompositeFieldContainer[Claim]
    def __init__(self, gives: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., wants: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., terms: _Optional[_Union[Terms, _Mapping]] = ..., exclusive_key: _Optional[bytes] = ..., claims: _Optional[_Iterable[_Union[Claim, _Mapping]]] = ...) -> None: ...

class Counter(_message.Message):
    __slots__ = ("offer", "proposal")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    offer: bytes
    proposal: Offer
    def __init__(self, offer: _Optional[bytes] = ..., proposal: _Optional[_Union[Offer, _Mapping]] = ...) -> None: ...

class Accept(_message.Message):
    __slots__ = ("offer",)
    OFFER_FIELD_NUMBER: _ClassVar[int]
    offer: bytes
    def __init__(self, offer: _Optional[bytes] = ...) -> None: ...

class Reject(_message.Message):
    __slots__ = ("offer", "reason")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    offer: bytes
    reason: str
    def __init__(self, offer: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class Withdraw(_message.Message):
    __slots__ = ("offer", "reason")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    offer: bytes
    reason: str
    def __init__(self, offer: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...
