"""Host any strategy of the Axelrod library as a trading agent (optional extra ``sim``).

Cooperating is delivering; defecting is withholding. Each contract with a counterparty is one turn of
an iterated Prisoner's Dilemma against it. The hosted :class:`axelrod.Player` decides once per contract
(when the peer first asks :meth:`AxelrodStrategy.perform`) from the outcomes of the *previous*
contracts with that counterparty, fed to it exactly as :class:`axelrod.Match` would: its own history,
and an opponent whose history is the counterparty's plays, updated by ``update_history`` after each
turn; match attributes (length, game, noise 0) set as a Match sets them, and, for a stochastic
player, its own RNG seeded from ``seed`` and the counterparty. Every counterparty gets a fresh player
(a Match resets its players).

What the counterparty played in a turn is what our receipts saw: it cooperated if it delivered every
item it owed under that contract (:meth:`rate` is called once per delivery). A turn is closed when the
next contract with the same counterparty begins, so nothing of the current contract leaks into the
decision (the two moves of a turn are simultaneous, as in Axelrod).

The Axelrod library costs about 10 s and 0.9 GiB to import: this module imports it only when a hosted
player is first made (:func:`axelrod_module`), never at import of ``reference_agents`` or the CLI.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from a2a_coop.runtime.strategy import ContractView, Deliver, DeliveryView, HonestStrategy
from reference_agents import UnknownAgent

PREFIX = "axelrod:"
# The Prisoner's Dilemma that an even trade of one item each way plays, in units of the item's declared
# value, when the item is worth GAIN times that value to whoever receives it (see ``trade_game``).
GAIN = 1.5


class AxelrodUnavailable(UnknownAgent):
    """The optional extra ``sim`` (the axelrod package) is not installed."""


class UnknownAxelrodStrategy(UnknownAgent):
    """No strategy of the Axelrod library has this name."""


@cache
def axelrod_module() -> Any:
    """The ``axelrod`` package, imported on first use.

    Raises:
        AxelrodUnavailable: it is not installed.
    """
    try:
        return importlib.import_module("axelrod")
    except ImportError:
        raise AxelrodUnavailable(
            "axelrod strategies need the optional extra: pip install -e '.[sim]' in the a2a-coop checkout"
        ) from None


def trade_game(gain: float = GAIN) -> tuple[float, float, float, float]:
    """``(R, S, T, P)`` of an even trade: I receive an item worth ``gain`` if they deliver, and give one
    worth 1 if I deliver. R = gain - 1, S = -1, T = gain, P = 0.

    Why we configure ``axelrod.Game`` with these rather than derive trades from Axelrod's default
    (3, 0, 5, 1): an exchange of goods is a donation game, its payoffs add up (R + P = T + S), and
    (3, 0, 5, 1) does not (4 != 5); no trade of items could pay it without a payoff that depends on
    both moves jointly. So both sides play this game.
    """
    if gain <= 1:
        raise ValueError("gain must exceed 1, or cooperating never pays (no dilemma)")
    return (gain - 1.0, -1.0, gain, 0.0)


def axelrod_game(gain: float = GAIN) -> Any:
    """``axelrod.Game`` with the trade's payoffs (:func:`trade_game`)."""
    r, s, t, p = trade_game(gain)
    return axelrod_module().Game(r=r, s=s, t=t, p=p)


def strategy_names() -> list[str]:
    """Every strategy of the library that obeys Axelrod's rules (it neither reads nor alters its
    opponent's source or state: a counterparty is only ever known by its trades), by class name."""
    axl = axelrod_module()
    return sorted(s.__name__ for s in axl.strategies)


def player_class(name: str) -> Any:
    """The Axelrod strategy class called ``name`` (its class name, e.g. ``TitForTat``).

    Raises:
        AxelrodUnavailable: axelrod is not installed.
        UnknownAxelrodStrategy: no such strategy, or one that inspects or alters its opponent.
    """
    axl = axelrod_module()
    by_name = {s.__name__: s for s in axl.strategies}
    cls = by_name.get(name)
    if cls is None:
        near = [n for n in by_name if n.lower() == name.lower()]
        hint = f"; did you mean {near[0]}?" if near else "; list them with: a2a-coop agent list --axelrod"
        raise UnknownAxelrodStrategy(f"no Axelrod strategy {name!r} that obeys Axelrod's rules{hint}")
    return cls


def _seed_for(seed: int, counterparty: str) -> int:
    digest = hashlib.sha256(f"axelrod/{seed}/{counterparty}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass
class _Match:
    """One counterparty: the hosted player, a stand-in for the opponent, and the open turn."""

    player: Any
    opponent: Any
    open_contract: bytes | None = None
    my_play: Any = None


@dataclass
class AxelrodStrategy(HonestStrategy):
    """A strategy of the Axelrod library deciding whether to deliver (cooperate) or withhold (defect).

    Accepts offers worth at least ``min_ratio`` (as the honest agent does), receipts every delivery,
    and on each contract plays the hosted player's move against that counterparty.

    Args:
        player: the Axelrod strategy's class name (``TitForTat``, ``Grudger``, ...).
        seed: seeds a stochastic player's RNG, one stream per counterparty.
        turns: the match length the player is told (-1: unknown, Axelrod's convention).
        gain: what an item is worth to its receiver, over its declared value (the game's payoffs).
    """

    player: str = "TitForTat"
    seed: int = 0
    turns: int = -1
    gain: float = GAIN
    _matches: dict[str, _Match] = field(default_factory=dict, repr=False)
    _plays: dict[bytes, bool] = field(default_factory=dict, repr=False)
    _owed: dict[bytes, int] = field(default_factory=dict, repr=False)
    _got: dict[bytes, set[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._cls = player_class(self.player)
        self._game = axelrod_game(self.gain)
        self._stochastic = bool(axelrod_module().Classifiers["stochastic"](self._cls()))

    @property
    def name(self) -> str:
        return str(self._cls.name)

    def _match(self, counterparty: str) -> _Match:
        m = self._matches.get(counterparty)
        if m is None:
            axl = axelrod_module()
            player, opponent = self._cls(), axl.Player()
            for p in (player, opponent):
                p.set_match_attributes(length=self.turns, game=self._game, noise=0)
            if self._stochastic:
                player.set_seed(_seed_for(self.seed, counterparty))
            m = self._matches[counterparty] = _Match(player, opponent)
        return m

    def cooperates(self, contract: ContractView) -> bool:
        """Whether we deliver under ``contract``: the hosted player's move, decided when first asked."""
        cid = contract.contract_id
        decided = self._plays.get(cid)
        if decided is not None:
            return decided
        m = self._match(contract.counterparty)
        self._close_turn(m)
        axl = axelrod_module()
        move = m.player.strategy(m.opponent)
        m.open_contract, m.my_play = cid, move
        self._owed[cid] = len(contract.their_items)
        self._plays[cid] = move == axl.Action.C
        return self._plays[cid]

    def _close_turn(self, m: _Match) -> None:
        """Record the open turn's two moves in both histories, as a Match does after each turn."""
        if m.open_contract is None:
            return
        axl = axelrod_module()
        cid = m.open_contract
        # What a closed turn's receipts saw is in the histories now; only the decision stays (``_plays``),
        # should the peer ask about that contract again.
        theirs = axl.Action.C if len(self._got.pop(cid, ())) >= self._owed.pop(cid) else axl.Action.D
        m.player.update_history(m.my_play, theirs)
        m.opponent.update_history(theirs, m.my_play)
        m.open_contract = None

    def history(self, counterparty: str) -> list[tuple[str, str]]:
        """The closed turns with ``counterparty``: (our move, theirs) as "C"/"D"."""
        m = self._matches.get(counterparty)
        if m is None:
            return []
        return [(str(a), str(b)) for a, b in zip(m.player.history, m.opponent.history, strict=True)]

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return super().perform(contract) if self.cooperates(contract) else []

    def rate(self, delivery: DeliveryView) -> int | None:
        cid = delivery.contract.contract_id
        self._got.setdefault(cid, set()).add(delivery.item_index)
        return self.rating


def build_hosted(name: str, **params: Any) -> AxelrodStrategy:
    """``axelrod:NAME`` (or just NAME) as a strategy, with :class:`AxelrodStrategy`'s parameters."""
    return AxelrodStrategy(player=name.removeprefix(PREFIX), **params)
