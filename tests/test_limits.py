"""Stop strings and max_tokens as a pure component: strings in, strings out."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from cursor_api.core.limits import Limits, StopScanner
from cursor_api.usage import TokenMeter, estimate_tokens


def run(limits: Limits, pieces: list[str]) -> str:
    """What a client would see for an answer arriving in `pieces`."""
    out = []
    for piece in pieces:
        out.append(limits.content(piece))
        if limits.finish is not None:
            return "".join(out)
    out.append(limits.flush())
    return "".join(out)


def test_stop_string_split_across_pieces() -> None:
    limits = Limits(("END",))
    assert limits.content("one two E") == "one two "
    assert limits.content("N") == ""
    assert limits.finish is None
    assert limits.content("D and more") == ""
    assert limits.finish == "stop"
    assert limits.content("later") == ""


def test_only_a_possible_stop_start_is_held() -> None:
    scanner = StopScanner(("\n\n", "STOP"))
    assert scanner.feed("abc") == ("abc", False)
    assert scanner.feed("xS") == ("x", False)
    assert scanner.held == "S"
    assert scanner.feed("T") == ("", False)
    assert scanner.feed("X") == ("STX", False)
    assert scanner.feed("line\n") == ("line", False)
    assert scanner.feed("more") == ("\nmore", False)


def test_held_text_goes_out_at_the_end() -> None:
    limits = Limits(("ENDING",))
    assert limits.content("it is the END") == "it is the "
    assert limits.flush() == "END"
    assert limits.finish is None


def test_earliest_of_several_stops_wins() -> None:
    limits = Limits(("zz", "b"))
    assert run(limits, ["aaazzab"]) == "aaa"
    assert limits.finish == "stop"


def test_stop_at_the_start_gives_an_empty_answer() -> None:
    limits = Limits(("Hello",))
    assert run(limits, ["Hel", "lo world"]) == ""
    assert limits.finish == "stop"


@given(
    text=st.text(alphabet="abS\nT", max_size=60),
    stops=st.lists(st.text(alphabet="abST\n", min_size=1, max_size=4), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_any_split_cuts_where_the_whole_text_would(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    # Generated one character at a time, the answer stops where a stop string is
    # first complete.
    ends = [i for i in range(1, len(text) + 1) if any(text[:i].endswith(s) for s in stops)]
    found = bool(ends)
    if ends:
        done = text[: ends[0]]
        expected = done[: min(len(done) - len(s) for s in stops if done.endswith(s))]
    else:
        expected = text
    limits = Limits(tuple(stops))
    assert run(limits, pieces) == expected
    assert limits.finish == ("stop" if found else None)


def test_the_stop_completed_first_wins() -> None:
    assert run(Limits(("b", "SbS")), ["SbS"]) == "S"
    assert run(Limits(("ab", "b")), ["xab"]) == "x"


@given(text=st.text(alphabet="ab \n", max_size=40), stop=st.text(alphabet="ab", min_size=2))
def test_hold_back_is_the_minimum(text: str, stop: str) -> None:
    scanner = StopScanner((stop,))
    sent, found = scanner.feed(text)
    if found:
        return
    held = scanner.held
    assert sent + held == text
    assert stop.startswith(held)
    # Nothing longer than what was held could still begin the stop string.
    assert not any(
        stop.startswith(text[-k:]) for k in range(len(held) + 1, min(len(stop), len(text) + 1))
    )


def test_estimated_budget_cuts_inside_a_piece() -> None:
    limits = Limits(max_tokens=3)
    sent = run(limits, ["one two ", "three four five"])
    assert sent == "one two three"
    assert estimate_tokens(sent) == 3
    assert limits.finish == "length"


def test_budget_reached_exactly_ends_the_answer() -> None:
    limits = Limits(max_tokens=2)
    assert limits.content("one two") == "one two"
    assert limits.finish == "length"


def test_answer_within_the_budget_is_untouched() -> None:
    limits = Limits(max_tokens=50)
    assert run(limits, ["a short", " answer."]) == "a short answer."
    assert limits.finish is None


def test_reasoning_counts_toward_the_budget() -> None:
    limits = Limits(max_tokens=3)
    assert limits.reasoning("thinking hard") == "thinking hard"
    assert limits.content("one two three") == "one"
    assert limits.finish == "length"


def test_reasoning_is_not_cut_by_stop_strings() -> None:
    limits = Limits(("x",))
    assert limits.reasoning("a x b") == "a x b"
    assert limits.finish is None


def test_real_token_counts_end_after_the_piece_they_count() -> None:
    limits = Limits(("STOP",), max_tokens=2, counted=True)
    assert limits.content("Hello") == "Hello"
    assert limits.tokens(1) == ""
    assert limits.content(" ST") == " "
    assert limits.tokens(1) == "ST"  # held text was generated within the budget
    assert limits.finish == "length"
    assert limits.content("more") == ""


def test_real_counts_do_not_use_the_estimate() -> None:
    limits = Limits(max_tokens=1, counted=True)
    assert limits.content("a long answer of many estimated tokens") != ""
    assert limits.finish is None


def test_stop_and_budget_in_the_same_piece_the_earlier_wins() -> None:
    limits = Limits(("five",), max_tokens=2)
    assert run(limits, ["one two three four five"]) == "one two"
    assert limits.finish == "length"
    limits = Limits(("two",), max_tokens=20)
    assert run(limits, ["one two three"]) == "one "
    assert limits.finish == "stop"


def test_no_limits_is_inactive() -> None:
    assert not Limits().active
    assert Limits(("x",)).active and Limits(max_tokens=1).active


@given(pieces=st.lists(st.text(alphabet="ab1 ,中\né", max_size=8), max_size=30))
def test_meter_matches_the_estimate_of_the_whole(pieces: list[str]) -> None:
    meter = TokenMeter()
    for piece in pieces:
        meter.add(piece)
    assert meter.total() == estimate_tokens("".join(pieces))


@given(
    head=st.text(alphabet="ab1 ,中", max_size=20),
    text=st.text(alphabet="ab1 ,中", max_size=30),
    budget=st.integers(min_value=0, max_value=20),
)
def test_meter_fit_is_the_longest_prefix_within_budget(head: str, text: str, budget: int) -> None:
    meter = TokenMeter()
    meter.add(head)
    fits = meter.fit(text, budget)
    if estimate_tokens(head) > budget:
        assert fits == 0
        return
    assert estimate_tokens(head + text[:fits]) <= budget
    if fits < len(text):
        assert estimate_tokens(head + text[: fits + 1]) > budget


def test_the_matched_stop_string_is_reported() -> None:
    limits = Limits(("zz", "END"))
    run(limits, ["a E", "ND"])
    assert limits.stop_sequence == "END"
    limits = Limits(("zz",), max_tokens=1)
    run(limits, ["one two"])
    assert limits.finish == "length" and limits.stop_sequence is None


@given(pieces=st.lists(st.text(alphabet="ab1 ,中\né", max_size=8), max_size=30))
def test_meter_bound_never_falls_below_the_total(pieces: list[str]) -> None:
    meter = TokenMeter()
    for i, piece in enumerate(pieces):
        meter.add(piece)
        if i % 3 == 0:
            meter.total()  # counted now and then, as a budget near its end does
        assert meter.bound() >= estimate_tokens("".join(pieces[: i + 1]))
