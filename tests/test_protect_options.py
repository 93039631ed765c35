"""The ``protect`` option written in JSON and on the command line, and back."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from llmlingstral.protect_options import (add_protect_arguments, protection_from_args,
                                          protection_from_spec, protection_spec)
from llmlingstral.text.protect import FACT_CLASSES, Protection, protected_spans

TEXT = "Order ORD-4411 of 12 September 2024 cost €12 at https://example.org; ana@example.org"


def _kinds(protect) -> set[str]:
    protection = protect if isinstance(protect, Protection) else \
        (Protection() if protect else Protection.off())
    return {span.kind for span in protected_spans(TEXT, protection)}


@pytest.mark.parametrize("spec, expected", [
    (True, True),
    (False, False),
    (["numbers", "dates_times"], Protection().only("numbers", "dates_times")),
    ([], Protection.off()),
    ({}, Protection()),
    ({"classes": ["urls_emails"], "force_tokens": ["ORD"]},
     Protection.off(force_tokens=["ORD"]).only("urls_emails")),
    ({"patterns": [r"ORD-\d+"], "force_reserve_digit": True},
     Protection(patterns=[r"ORD-\d+"], force_reserve_digit=True)),
])
def test_json_forms_of_protect(spec, expected):
    assert protection_from_spec(spec) == expected
    assert protection_from_spec(json.loads(json.dumps(spec))) == expected


def test_a_list_of_classes_protects_those_classes_only():
    assert _kinds(protection_from_spec(["urls_emails"])) == {"urls_emails"}
    assert "urls_emails" not in _kinds(protection_from_spec({"classes": ["money_percent"]}))


@pytest.mark.parametrize("spec, error, message", [
    ("yes", TypeError, "true, false, a list of classes"),
    (1, TypeError, "true, false, a list of classes"),
    (None, TypeError, "true, false, a list of classes"),
    (["numbers", "phone_numbers"], ValueError,
     "'phone_numbers' is not a class of facts; the classes are code, urls_emails"),
    ({"classes": "numbers"}, TypeError, r"protect.classes must be a list of class names"),
    ({"clases": ["numbers"]}, ValueError, r"unknown key\(s\) \['clases'\]"),
    ({"patterns": "ORD-\\d+"}, TypeError, "patterns must be a list"),
    ({"patterns": ["ORD-("]}, ValueError, "not a valid regular expression"),
    ({"force_tokens": "ORD"}, TypeError, "force_tokens must be a list"),
    ({"force_reserve_digit": "yes"}, TypeError, "force_reserve_digit must be true or false"),
])
def test_bad_json_forms_say_what_to_write(spec, error, message):
    with pytest.raises(error, match=message):
        protection_from_spec(spec)


def test_patterns_can_be_refused_or_bounded():
    with pytest.raises(ValueError, match="does not accept regular expressions"):
        protection_from_spec({"patterns": ["a"]}, allow_patterns=False)
    assert protection_from_spec({"patterns": []}, allow_patterns=False) == Protection()
    with pytest.raises(ValueError, match="3 given, at most 2"):
        protection_from_spec({"patterns": ["a", "b", "c"]}, max_patterns=2)
    with pytest.raises(ValueError, match="a pattern of 11 characters, at most 10"):
        protection_from_spec({"patterns": ["a" * 11]}, max_pattern_length=10)


@pytest.mark.parametrize("protect", [
    True, False, Protection(), Protection.off(force_tokens=["@", "ORD"]),
    Protection().only("numbers").without("numbers"),
    Protection(patterns=[r"ORD-\d+", "(?i)inv\\d+"], force_reserve_digit=True),
])
def test_spec_round_trips_through_json(protect):
    spec = json.loads(json.dumps(protection_spec(protect)))
    assert protection_from_spec(spec) == protect


def test_a_pattern_with_flags_outside_its_text_cannot_be_saved():
    with pytest.raises(ValueError, match="write them inline"):
        protection_spec(Protection(patterns=[re.compile("inv", re.I)]))
    with pytest.raises(TypeError, match="protect must be"):
        protection_spec("all")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_protect_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv, expected", [
    ((), True),
    (("--protect", "all"), True),
    (("--protect", "none"), False),
    (("--no-protect",), False),
    (("--protect", "numbers,dates_times"), Protection().only("numbers", "dates_times")),
    (("--protect", "numbers", "--protect-pattern", r"ORD-\d+"),
     Protection(patterns=[r"ORD-\d+"]).only("numbers")),
    (("--no-protect", "--protect-pattern", "a", "--protect-pattern", "b"),
     Protection.off(patterns=["a", "b"])),
    (("--protect-pattern", "a"), Protection(patterns=["a"])),
])
def test_command_line_forms(argv, expected):
    assert protection_from_args(_args(*argv)) == expected


def test_command_line_names_the_classes_on_a_mistake():
    with pytest.raises(ValueError, match="'dates' is not a class of facts; the classes are"):
        protection_from_args(_args("--protect", "numbers,dates"))
    with pytest.raises(ValueError, match="needs a value"):
        protection_from_args(_args("--protect", ","))
    parser = argparse.ArgumentParser()
    add_protect_arguments(parser)
    assert all(name in parser.format_help() for name in FACT_CLASSES)
