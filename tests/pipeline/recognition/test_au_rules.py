"""The label sets' AU rules: every AU combination the generator plants for a class is
given back that class, and the rules tell the lip-corner directions apart."""

from __future__ import annotations

import pytest

from pipeline.recognition.au_rules import AUS, RULES, label_set_of, present_aus, rule_class
from pipeline.synth.labels import LABEL_SETS


@pytest.mark.parametrize("label_set", sorted(LABEL_SETS))
def test_each_planted_combination_gets_its_own_class(label_set: str) -> None:
    for label, combos in LABEL_SETS[label_set].items():
        for combo in combos:
            assert rule_class(label_set, combo) == label, (label_set, combo)


def test_lip_corners_up_is_positive_and_down_is_negative() -> None:
    assert rule_class("megc3", {"AU12"}) == "positive"
    assert rule_class("megc3", {"AU15"}) == "negative"
    assert rule_class("casme2", {"AU12"}) == "happiness"
    assert rule_class("casme2", {"AU15"}) == "repression"


def test_brows_up_with_brows_down_is_fear_not_surprise() -> None:
    # Davison et al. 2018: AU1+2+4 is fear (class VI), negative in the MEGC composite.
    assert rule_class("megc3", {"AU1", "AU2"}) == "surprise"
    assert rule_class("megc3", {"AU1", "AU2", "AU4"}) == "negative"


def test_no_rule_means_no_class_in_megc_and_others_in_casme2() -> None:
    assert rule_class("megc3", {"AU1"}) is None
    assert rule_class("megc3", set()) is None
    assert rule_class("casme2", {"AU1"}) == "others"


def test_label_sets_are_found_from_a_model_s_labels() -> None:
    assert label_set_of(["negative", "positive", "surprise"]) == "megc3"
    assert label_set_of(["happiness", "surprise", "disgust", "repression", "others"]) == "casme2"
    assert label_set_of(["a", "b"]) is None


def test_rules_only_name_known_action_units() -> None:
    for rules in RULES.values():
        for _, all_of, any_of, none_of in rules:
            assert (all_of | any_of | none_of) <= set(AUS)


def test_threshold_picks_the_present_units() -> None:
    assert present_aus({"AU12": 0.8, "AU6": 0.49, "AU15": 0.5}) == {"AU12", "AU15"}
    with pytest.raises(ValueError, match="no AU rules"):
        rule_class("smic", {"AU12"})
