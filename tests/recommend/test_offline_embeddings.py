"""`evaluate_served` with the catalog embedded by the real model: the served list's new-release slot fires
offline as it does in production, the vectors are the ones ingest would store, and a cache file spares a
second run the embedding."""

from __future__ import annotations

import math

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cinelibre.embedding import content_hash
from cinelibre.errors import ValidationError
from cinelibre.recommend.evaluation import RatingRecord
from cinelibre.recommend.offline import (
    CatalogEntry,
    EmbeddingCache,
    embed_items,
    evaluate_served,
    fresh_database,
    item_text,
)

SPACE = ("Science Fiction", "Adventure")
KITCHEN = ("Romance", "Comedy")
SPACE_STORY = "A starship crew travels through deep space to a distant planet and fights an alien fleet"
FILMS = 12
KITCHEN_STORY = "Two rival chefs in a small Paris restaurant fall in love while cooking for a famous food critic"


def space_and_kitchen() -> tuple[list[CatalogEntry], list[RatingRecord], list[RatingRecord]]:
    """Twelve space films, twelve kitchen romances, and one new release of each kind that nobody rated in
    training. Ten fans of each kind rate six of their own kind 4-5 and two of the other kind 1-2 in training;
    each holds out one more of their own kind and rates their kind's new release 5 (test)."""
    catalog = [CatalogEntry(f"s{i}", f"Star Voyage {i}", 2010 + i, SPACE, f"{SPACE_STORY}, part {i}.")
               for i in range(FILMS)]
    catalog += [CatalogEntry(f"k{i}", f"Kitchen Hearts {i}", 2010 + i, KITCHEN, f"{KITCHEN_STORY}, part {i}.")
                for i in range(FILMS)]
    catalog += [
        CatalogEntry("s-new", "Galaxy Frontier", 2026, SPACE, "Astronauts on a starship cross deep space to "
                     "defend a distant colony planet from an alien armada."),
        CatalogEntry("k-new", "The Bakery of Love", 2026, KITCHEN, "A pastry chef and a restaurant critic in "
                     "Paris fall in love over a summer of cooking."),
    ]
    train, test = [], []
    for kind, other in (("s", "k"), ("k", "s")):
        for u in range(10):
            user = f"{kind}-fan-{u}"
            own = [(u + j) % FILMS for j in range(7)]
            for j, i in enumerate(own[:6]):
                train.append(RatingRecord(user, f"{kind}{i}", 4.0 + (j % 3) / 2, 1_700_000_000.0 + u))
            for i in ((u + 2) % FILMS, (u + 5) % FILMS):
                train.append(RatingRecord(user, f"{other}{i}", 1.0 + (i % 3) / 2, 1_700_000_000.0 + u))
            test.append(RatingRecord(user, f"{kind}{own[6]}", 4.5))
            test.append(RatingRecord(user, f"{kind}-new", 5.0))
    return catalog, train, test


class CountingEmbedder:
    """The real embedder, counting the texts it is asked for."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.texts: list[str] = []

    def embed_passages(self, texts):
        texts = list(texts)
        self.texts.extend(texts)
        return self.embedder.embed_passages(texts)


def test_the_new_release_slot_reaches_users_only_when_the_catalog_is_embedded(pg_url, embedder, tmp_path):
    catalog, train, test = space_and_kitchen()
    counting = CountingEmbedder(embedder)
    cache = EmbeddingCache(tmp_path / "vectors.npz")
    steps = []

    # With the slot on (served with it off since session 5: `evaluate --new-item-slots 1` measures it).
    embedded = evaluate_served(fresh_database(pg_url, "evaluate_embedded"), train, test, items=catalog, k=5,
                               embedder=counting, embedding_cache=cache, progress=lambda *s: steps.append(s),
                               new_item_slots=1, new_item_similarity=0.5)

    assert embedded.embedding is not None
    assert (embedded.embedding.embedded, embedded.embedding.from_cache) == (26, 0)
    assert sorted(counting.texts) == sorted(item_text(entry) for entry in catalog)
    # Shortest texts first, as ingest sends them.
    assert [len(text) for text in counting.texts] == sorted(len(text) for text in counting.texts)
    assert ("embedding", 26, 26) in steps
    for entry in embedded.lists:
        kind = entry.user_id[0]
        # The model serves every user (they liked modelled films); its last place goes to their kind's new
        # release, named content-based; the other kind's new release never shows.
        assert entry.method == embedded.training.algorithm
        assert entry.file_item_ids[-1] == f"{kind}-new", entry.file_item_ids
        assert entry.items[-1]["method"] == "content_based"
        assert {item["method"] for item in entry.items[:-1]} == {embedded.training.algorithm}
        assert all(item.startswith(kind) for item in entry.file_item_ids)

    # The stored vectors and hashes are those ingest would store for the same text.
    with psycopg.connect(make_conninfo(pg_url, dbname="evaluate_embedded")) as conn:
        stored_hash, stored = conn.execute(
            "select content_hash, embedding::text from public.movies where item_id = %s",
            (embedded.loaded.item_db_id["s-new"],),
        ).fetchone()
    galaxy = next(entry for entry in catalog if entry.item_id == "s-new")
    assert stored_hash == content_hash(item_text(galaxy))
    expected = next(embedder.embed_passages([item_text(galaxy)]))
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(map(float, stored[1:-1].split(",")), expected,
                                                               strict=True))

    # A second run reads every vector from the cache file and serves the same lists.
    again = CountingEmbedder(embedder)
    cached = evaluate_served(fresh_database(pg_url, "evaluate_cached"), train, test, items=catalog, k=5,
                             embedder=again, embedding_cache=EmbeddingCache(tmp_path / "vectors.npz"),
                             new_item_slots=1)
    assert again.texts == []
    assert (cached.embedding.embedded, cached.embedding.from_cache) == (0, 26)
    assert [entry.file_item_ids for entry in cached.lists] == [entry.file_item_ids for entry in embedded.lists]

    # As served (the slot off by default), the model's lists stay whole.
    default = evaluate_served(fresh_database(pg_url, "evaluate_default"), train, test, items=catalog, k=5,
                              embedder=embedder, embedding_cache=EmbeddingCache(tmp_path / "vectors.npz"))
    assert all(item["method"] == default.training.algorithm for entry in default.lists for item in entry.items)
    assert not any(item.endswith("-new") for entry in default.lists for item in entry.file_item_ids)

    # Without embeddings the slot has nothing to work with: the new releases reach nobody, and the held-out
    # ratings of 5 they had are missed.
    plain = evaluate_served(fresh_database(pg_url, "evaluate_plain"), train, test, items=catalog, k=5,
                            new_item_slots=1)
    assert plain.embedding is None
    assert not any(item.endswith("-new") for entry in plain.lists for item in entry.file_item_ids)
    assert embedded.served.recall > plain.served.recall


def test_embed_items_embeds_each_distinct_text_once_and_keeps_progress_in_the_cache(embedder, tmp_path):
    twins = [CatalogEntry("1", "Heat", 1995, ("Crime",)), CatalogEntry("2", "Heat", 1995, ("Crime",)),
             CatalogEntry("3", "Heat", 1986, ("Action",))]
    counting = CountingEmbedder(embedder)
    result = embed_items(twins, counting, cache=EmbeddingCache(tmp_path / "c.npz"))
    assert counting.texts == ["Heat (1995). Crime.", "Heat (1986). Action."]
    assert result.vectors["1"] == result.vectors["2"] and result.vectors["1"] != result.vectors["3"]
    assert len(EmbeddingCache(tmp_path / "c.npz")) == 2


@pytest.mark.parametrize("content", [b"not a numpy file", b""])
def test_a_file_that_is_not_an_embedding_cache_is_refused_by_name(tmp_path, content):
    path = tmp_path / "vectors.npz"
    path.write_bytes(content)
    with pytest.raises(ValidationError, match="vectors.npz is not an embedding cache"):
        EmbeddingCache(path)


def test_a_cache_of_vectors_of_another_width_is_refused(tmp_path):
    import numpy as np

    path = tmp_path / "vectors.npz"
    np.savez(path, hashes=np.array(["a"]), vectors=np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValidationError, match="expected one 384-d vector per hash"):
        EmbeddingCache(path)
