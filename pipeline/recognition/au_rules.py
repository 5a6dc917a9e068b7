"""Classes from action units: each label set's documented AU rules.

Micro-expression classes are defined by action units. The rules here follow the
datasets' own criteria, reduced to the AUs mestream's recogniser predicts
(:data:`AUS`):

- ``megc3`` (the MEGC2019 composite; Davison et al. 2018, "Objective classes for
  micro-facial expression recognition", whose classes I happiness, II surprise and
  III-VI anger / disgust / sadness / fear merge into positive / surprise / negative):
  AU12 (with or without AU6) is positive; AU1+AU2 without AU4 is surprise (AU1+2+4 is
  fear: negative); AU4, AU7, AU9, AU10, AU14, AU15, AU17 or AU20 is negative; anything
  else has no MEGC class (CASME II's "others", left out of the composite).
- ``casme2`` (CASME II's five classes, Yan et al. 2014, its AU criteria table):
  AU12 happiness; AU1+AU2 surprise; AU9, AU10 or AU4 (AU4+7, AU4+9) disgust; AU14,
  AU15 or AU17 repression; else others.
- ``casme_sq3`` (CAS(ME)^2's categories as paper 1 uses them): AU12 happy; AU9 or AU10
  disgust; AU4 angry.

The first rule that matches wins, in the order written.

Example:
    >>> rule_class("megc3", {"AU6", "AU12"}), rule_class("megc3", {"AU1", "AU2", "AU4"})
    ('positive', 'negative')
    >>> rule_class("casme2", {"AU15", "AU17"}), rule_class("megc3", {"AU1"})
    ('repression', None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14",
                        "AU15", "AU17", "AU20", "AU26")
"""The action units a recogniser's ``au_logits`` output scores, in this order."""

NEGATIVE_AUS = frozenset({"AU4", "AU7", "AU9", "AU10", "AU14", "AU15", "AU17", "AU20"})

# (class, all of, any of (empty = no condition), none of)
Rule = tuple[str, frozenset[str], frozenset[str], frozenset[str]]


def _r(label: str, all_of: Iterable[str] = (), any_of: Iterable[str] = (),
       none_of: Iterable[str] = ()) -> Rule:
    return label, frozenset(all_of), frozenset(any_of), frozenset(none_of)


RULES: dict[str, list[Rule]] = {
    "megc3": [_r("positive", ["AU12"]),
              _r("surprise", ["AU1", "AU2"], none_of=["AU4"]),
              _r("negative", any_of=NEGATIVE_AUS)],
    "casme2": [_r("happiness", ["AU12"]),
               _r("surprise", ["AU1", "AU2"], none_of=["AU4"]),
               _r("disgust", any_of=["AU9", "AU10", "AU4"]),
               _r("repression", any_of=["AU14", "AU15", "AU17"]),
               _r("others")],
    "casme_sq3": [_r("happy", ["AU12"]),
                  _r("disgust", any_of=["AU9", "AU10"]),
                  _r("angry", ["AU4"])],
}
"""Label set -> its rules, first match wins."""


def rule_class(label_set: str, aus: Iterable[str]) -> str | None:
    """The class of an AU set under ``label_set``'s rules, or None when none applies."""
    if label_set not in RULES:
        raise ValueError(f"no AU rules for label set {label_set!r}; known: {sorted(RULES)}")
    present = frozenset(aus)
    for label, all_of, any_of, none_of in RULES[label_set]:
        if all_of <= present and (not any_of or present & any_of) and not present & none_of:
            return label
    return None


def label_set_of(labels: Iterable[str]) -> str | None:
    """The label set whose classes are exactly ``labels`` (a model's), or None."""
    wanted = set(labels)
    for name, rules in RULES.items():
        if {r[0] for r in rules} == wanted:
            return name
    return None


def present_aus(probs: Mapping[str, float], threshold: float = 0.5) -> set[str]:
    """The AUs scored at or above ``threshold``."""
    return {au for au, p in probs.items() if p >= threshold}
