"""The CUAD scorer on hand-made gold/prediction pairs whose answers are worked out by hand."""

import pytest

from pipeline.eval.score import (
    Counts, GoldSpan, Item, Predicted, aupr, f1, has_confidences, jaccard, pr_curve, precision,
    precision_at_recall, recall, score_item, total, words,
)


def item(gold=(), predicted=(), category="Governing Law", said_absent=None):
    gold = tuple(g if isinstance(g, GoldSpan) else GoldSpan(g) for g in gold)
    predicted = tuple(p if isinstance(p, Predicted) else Predicted(p, 1) for p in predicted)
    absent = not predicted if said_absent is None else said_absent
    return Item(category=category, gold=gold, predicted=predicted, said_absent=absent)


def test_words_follow_cuads_normalisation():
    assert words("The Laws of Delaware; and/or: New-York.") == {"the", "laws", "of", "delaware", "and", "or", "new-york"}
    assert words("line\nbreak\t “quoted”") == {"line", "break", '"quoted"'}


@pytest.mark.parametrize(("pred", "gold", "expected"), [
    ("a b c d", "a b", 0.5),  # 2 shared of 4: exactly the threshold
    ("a b c", "a b d", 0.5),  # 2 of 4
    ("a b c d e", "a b", 0.4),  # 2 of 5
    ("a b c", "d e f", 0.0),
    ("A, B.", "a b", 1.0),
])
def test_jaccard(pred, gold, expected):
    assert jaccard(pred, gold) == pytest.approx(expected)


def test_jaccard_of_exactly_one_half_matches_and_just_below_does_not():
    at_half = score_item(item(gold=["alpha beta"], predicted=["alpha beta gamma delta"]))
    below = score_item(item(gold=["alpha beta"], predicted=["alpha beta gamma delta epsilon"]))
    assert (at_half.tp, at_half.fp, at_half.fn) == (1, 0, 0)
    assert (below.tp, below.fp, below.fn) == (0, 1, 1)


def test_no_gold_and_no_prediction_is_a_correct_absence_with_no_precision():
    c = score_item(item())
    assert c == Counts(absent_correct=1, absent_total=1)
    assert precision(c) is None and recall(c) is None and f1(c) is None


def test_predictions_without_gold_are_false_positives_and_a_missed_absence():
    c = score_item(item(predicted=["one clause here", "another clause there"]))
    assert (c.tp, c.fp, c.fn, c.absent_correct, c.absent_total) == (0, 2, 0, 0, 1)
    assert precision(c) == 0.0 and recall(c) is None and f1(c) is None


def test_gold_without_prediction_is_missed_and_absence_is_not_scored():
    c = score_item(item(gold=["the governing law clause"]))
    assert (c.tp, c.fn, c.absent_total, c.present_correct, c.present_total) == (0, 1, 0, 0, 1)
    assert recall(c) == 0.0 and precision(c) is None and f1(c) == 0.0  # nothing found: F1 0, not undefined


def test_two_predictions_of_one_gold_span_count_it_once_and_neither_is_false():
    gold = ["this agreement is governed by the laws of delaware", "neither party may assign this agreement"]
    c = score_item(item(gold=gold, predicted=[
        "This Agreement is governed by the laws of Delaware.",
        "This Agreement is governed by the laws of the State of Delaware",
        "Payment is due in thirty days.",
    ]))
    assert (c.gold, c.predicted, c.tp, c.fp, c.fn) == (2, 3, 1, 1, 1)
    assert precision(c) == 0.5 and recall(c) == 0.5 and f1(c) == 0.5


def test_repeated_prediction_text_counts_once():
    c = score_item(item(gold=["governed by delaware law"], predicted=[
        "Governed by Delaware law.", "governed  by\nDelaware law.", "Governed by Delaware law.",
    ]))
    assert (c.predicted, c.tp, c.fp) == (1, 1, 0)


def test_one_prediction_can_find_two_gold_spans():
    c = score_item(item(gold=["a b c", "a b c d"], predicted=["a b c d e"]))
    assert (c.tp, c.fp, c.fn) == (2, 0, 0)


def test_parties_also_match_when_the_gold_name_lies_inside_the_prediction():
    sentence = "This agreement is made between Acme Widgets Inc. and the Buyer, a Delaware corporation, on May 1."
    parties = score_item(item(gold=["Acme Widgets Inc."], predicted=[sentence], category="Parties"))
    other = score_item(item(gold=["Acme Widgets Inc."], predicted=[sentence], category="Governing Law"))
    partial_word = score_item(item(gold=["Acme"], predicted=["Acmeco Ltd and others in this deal"], category="Parties"))
    assert parties.tp == 1 and other.tp == 0 and partial_word.tp == 0


def test_page_accuracy_counts_matched_predictions_citing_a_page_holding_the_span():
    gold = [GoldSpan("law of delaware governs", (3,)), GoldSpan("no assignment without consent", (5, 6)),
            GoldSpan("a span found on no page", ())]
    c = score_item(item(gold=gold, predicted=[
        Predicted("law of delaware governs", 3),  # right page
        Predicted("no assignment without consent", 6, "relocated"),  # the span runs over pages 5-6
        Predicted("a span found on no page", 2),  # gold unplaced: not counted
        Predicted("law of delaware governs it all here", 4),  # matches, wrong page
        Predicted("unrelated text", 9, "unverified"),  # no match: not counted
    ]))
    assert (c.tp, c.fp, c.page_correct, c.page_total) == (3, 1, 2, 3)
    assert (c.verified, c.relocated, c.unverified) == (3, 1, 1)


def test_micro_totals_over_items():
    c = total([item(gold=["a b"], predicted=["a b"]), item(predicted=["x y"]), item()])
    assert (c.tp, c.fp, c.fn, c.absent_correct, c.absent_total, c.present_correct) == (1, 1, 0, 1, 2, 1)
    assert precision(c) == 0.5 and recall(c) == 1.0


def _ranked_items():
    return [
        item(gold=["alpha beta gamma", "delta epsilon zeta"], predicted=[
            Predicted("alpha beta gamma", 1, confidence=0.9),
            Predicted("unrelated words only", 1, confidence=0.8),
            Predicted("delta epsilon zeta", 1, confidence=0.7),
        ]),
        item(predicted=[Predicted("more unrelated words", 1, confidence=0.8)]),
    ]


def test_precision_recall_curve_aupr_and_precision_at_recall():
    points = pr_curve(_ranked_items())
    # threshold 0.9: 1 of 2 gold, 1 prediction right; 0.8 adds two wrong ones (ties together); 0.7 finds the rest
    assert [r for r, _ in points] == [0.0, 0.5, 0.5, 1.0]
    assert [p for _, p in points] == pytest.approx([1.0, 1.0, 1 / 3, 0.5])
    assert aupr(points) == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)  # enveloped precisions 1, 1, .5, .5
    assert precision_at_recall(points, 0.8) == pytest.approx(0.5)
    assert precision_at_recall(points, 0.5) == pytest.approx(1.0)
    assert precision_at_recall([(0.0, 1.0), (0.6, 0.9)], 0.8) == 0.0  # never reached: 0, as CUAD


def test_no_curve_without_confidences_or_gold():
    without = [item(gold=["a b"], predicted=[Predicted("a b", 1, confidence=0.5), Predicted("c d", 1)])]
    assert pr_curve(without) is None and not has_confidences(without)
    assert pr_curve([item(predicted=[Predicted("c d", 1, confidence=0.5)])]) is None
    assert has_confidences(_ranked_items()) and not has_confidences([item(gold=["a"])])


def test_perfect_ranking_has_aupr_one():
    items = [item(gold=["a b"], predicted=[Predicted("a b", 1, confidence=1.0), Predicted("x y", 1, confidence=0.1)])]
    points = pr_curve(items)
    assert aupr(points) == pytest.approx(1.0) and precision_at_recall(points, 0.8) == 1.0
