"""Customers' typos among the words of a group of messages, so that a misspelt message is not
picked to speak for the group.

A word is a likely typo of another when one letter is dropped, added, changed or swapped
inside it, and the group uses the other word several times as often ("expie", "expiire"
and "exipre" beside "expire"). A letter added at either end, or a different first letter,
is left alone: "order" / "orders" and "use" / "used" are forms of one word, "delay" /
"relay" two words.

Two words one edit apart share a variant with one letter deleted (or one is such a variant
of the other): that index finds the candidate pairs without comparing every word with every
other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

#: How many times as often the group must use the word a typo is one edit from.
TYPO_RATIO = 4
#: Shorter words are left alone: too many real words are one edit apart ("ship" / "shop",
#: "size" / "side").
MIN_TYPO_LENGTH = 5


def likely_typos(counts: Mapping[str, int]) -> set[str]:
    """The words of ``counts`` (word -> how many messages use it) one inner edit from a word
    used at least :data:`TYPO_RATIO` times as often."""
    by_variant: dict[str, set[str]] = defaultdict(set)
    for word in counts:
        for variant in _variants(word):
            by_variant[variant].add(word)
    typos = set()
    for word, n in counts.items():
        if len(word) < MIN_TYPO_LENGTH:
            continue
        near = {other for v in _variants(word) for other in by_variant[v]} - {word}
        if any(counts[o] >= TYPO_RATIO * n and _one_inner_edit(word, o) for o in near):
            typos.add(word)
    return typos


def _variants(word: str) -> set[str]:
    """The word and each spelling of it with one letter deleted."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_inner_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one edit apart (a letter dropped, added, changed, or two
    neighbours swapped) after the same first letter, and neither starts or ends with the
    other ("order" / "orders", "sent" / "resent" are forms, "delay" / "relay" two words)."""
    if a[0] != b[0] or a.startswith(b) or b.startswith(a) or a.endswith(b) or b.endswith(a):
        return False
    if len(a) != len(b):
        short, long_ = sorted((a, b), key=len)
        return len(long_) - len(short) == 1 and any(
            long_[:i] + long_[i + 1 :] == short for i in range(len(long_))
        )
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return len(differ) == 1 or (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and a[differ[0]] == b[differ[1]]
        and a[differ[1]] == b[differ[0]]
    )
