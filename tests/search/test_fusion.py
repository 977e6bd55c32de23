"""Reciprocal rank fusion and the search filters, on their own."""

from __future__ import annotations

import pytest

from cinelibre.errors import ValidationError
from cinelibre.search import SearchFilters, reciprocal_rank_fusion


def test_rrf_sums_weight_over_k_plus_rank():
    scores = reciprocal_rank_fusion(
        [[("movie", 1), ("movie", 2)], [("movie", 2), ("book", 3)]], [[1.0, 1.0], [2.0, 0.5]], k=60
    )
    assert scores[("movie", 1)] == pytest.approx(1 / 61)
    assert scores[("movie", 2)] == pytest.approx(1 / 62 + 2 / 61)
    assert scores[("book", 3)] == pytest.approx(0.5 / 62)


def test_an_item_ranked_by_both_lists_beats_the_top_of_one():
    semantic = [("movie", n) for n in range(1, 11)]
    titles = [("movie", 7)]
    scores = reciprocal_rank_fusion([semantic, titles], [[1.0] * 10, [1.0]])
    assert max(scores, key=scores.get) == ("movie", 7)


def test_rankings_and_weights_must_match():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[("movie", 1)]], [[1.0, 2.0]])


@pytest.mark.parametrize(
    "filters, item_type, kinds",
    [
        (SearchFilters(), "all", ("movie", "book")),
        (SearchFilters(), "book", ("book",)),
        (SearchFilters(genre="Thriller"), "all", ("movie",)),
        (SearchFilters(category="Fiction"), "all", ("book",)),
        (SearchFilters(genre="Drama", category="Fiction"), "all", ("movie", "book")),
        (SearchFilters(language="hi", year_from=2000), "all", ("movie", "book")),
    ],
)
def test_filters_choose_the_kinds_they_can_describe(filters, item_type, kinds):
    assert filters.kinds(item_type) == kinds


@pytest.mark.parametrize(
    "filters, item_type, field",
    [
        (SearchFilters(genre="Drama"), "book", "genre"),
        (SearchFilters(category="Fiction"), "movie", "category"),
    ],
)
def test_a_filter_that_cannot_apply_to_the_asked_kind_is_refused(filters, item_type, field):
    with pytest.raises(ValidationError) as raised:
        filters.kinds(item_type)
    assert raised.value.details == {"field": field}


def test_year_range_must_be_ordered():
    with pytest.raises(ValidationError):
        SearchFilters(year_from=2020, year_to=2010)
