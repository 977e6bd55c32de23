"""`cinelibre evaluate`: the served recommendations measured offline on rating files, in a throwaway
embedded database (never the configured one), beside most-rated popularity on the same split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cinelibre.cli.progress import StepProgress
from cinelibre.errors import CineLibreError
from cinelibre.observability import logger


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_result(result) -> str:  # noqa: ANN001 (an OfflineResult)
    k, success_k = result.k, result.served.success_k
    columns = (f"P@{k}", f"R@{k}", f"NDCG@{k}", "MRR", f"success@{success_k}", "coverage", "RMSE")
    lines = [f"{'':<22}" + "".join(f"{name:>11}" for name in columns)]
    rows = (
        ("served (personalized)", result.served, result.served_ratings.rmse),
        ("most-rated", result.popularity, None),
        ("user's own mean", None, result.user_mean_ratings.rmse),
    )
    for name, ranking, rating_error in rows:
        figures = (
            (ranking.precision, ranking.recall, ranking.ndcg, ranking.mrr, ranking.success, ranking.coverage)
            if ranking is not None else (None,) * 6
        )
        lines.append(f"{name:<22}" + "".join(f"{_figure(value):>11}" for value in (*figures, rating_error)))
    accuracy = result.served_ratings
    predicted = f"{accuracy.predicted_pairs} ({accuracy.coverage:.1%})"
    lines.append("")
    lines.append(
        f"{result.served.users} test users with a rating >= 4 held out; catalog {result.catalog_size} items; "
        f"{result.train_ratings} training and {result.test_ratings} held-out ratings."
    )
    lines.append(
        f"RMSE covers all {accuracy.pairs} held-out pairs; the model predicted {predicted} of them"
        + (f" (RMSE {accuracy.rmse_predicted:.4f} on those alone)" if accuracy.rmse_predicted is not None else "")
        + "; the user's own training mean stands in for the rest."
    )
    if not result.predictions_for_every_pair:
        lines.append("The service has no predictor for arbitrary pairs: only the listed items were predicted.")
    if result.embedding is not None:
        lines.append(
            f"Catalog embedded: {len(result.embedding.vectors)} items ({result.embedding.embedded} texts embedded "
            f"now, {result.embedding.from_cache} from the cache)."
        )
    else:
        lines.append("Catalog not embedded: the content-based parts of the served list (new releases, the "
                     "content fallback) had nothing to work with.")
    served_by = ", ".join(f"{method} {count}" for method, count in sorted(result.methods.items()))
    lines.append(f"Lists served by: {served_by}")
    training = result.training
    if training is not None:
        memory = getattr(training, "peak_memory_bytes", None)
        lines.append(
            f"Model {getattr(training, 'model_version', '?')} ({getattr(training, 'algorithm', '?')}): "
            f"{getattr(training, 'item_count', '?')} items, trained in {getattr(training, 'train_seconds', 0):.1f} s"
            + (f", peak memory {memory / 2**20:.0f} MiB" if memory else "")
        )
    return "\n".join(lines)


TrainOption = Annotated[Path | None, typer.Option(
    "--train", dir_okay=False,
    help="Training ratings CSV: user_id,item_id,rating[,timestamp]. With --split-from: where to write it.",
)]
TestOption = Annotated[Path | None, typer.Option(
    "--test", dir_okay=False, help="Held-out ratings CSV, same columns. With --split-from: where to write it.",
)]
ItemsOption = Annotated[Path | None, typer.Option(
    "--items", exists=True, dir_okay=False,
    help="Catalog CSV: item_id,title[,year][,genres][,overview]. Without it, items get placeholder titles.",
)]
KOption = Annotated[int, typer.Option("--k", min=1, max=100, help="List length measured.")]
RecsOutOption = Annotated[Path | None, typer.Option(
    "--recs-out", dir_okay=False, help="Write each test user's list here, one JSON line per user.",
)]
SplitFromOption = Annotated[Path | None, typer.Option(
    "--split-from", exists=True, dir_okay=False,
    help="Make a per-user random 80/20 split of this ratings CSV, write both parts, and evaluate on them.",
)]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the --split-from split.")]
SplitOnlyOption = Annotated[bool, typer.Option("--split-only", help="With --split-from: write the split, stop.")]
NoEmbeddingsOption = Annotated[bool, typer.Option(
    "--no-embeddings",
    help="Do not embed the items: quicker, but the served list's content-based parts (the new-release slot, "
    "the content fallback) then find nothing, so it is not the list as deployed.",
)]
EmbeddingCacheOption = Annotated[Path | None, typer.Option(
    "--embedding-cache", dir_okay=False,
    help="Reuse item vectors from this file (keyed by model and text) and add the new ones to it.",
)]
NewItemSlotsOption = Annotated[int | None, typer.Option(
    "--new-item-slots", min=0, max=33,
    help="Measure the list with this many last places kept for titles the model does not know (served: "
    "recommend.hybrid.NEW_ITEM_SLOTS).",
)]
NewItemSimilarityOption = Annotated[float | None, typer.Option(
    "--new-item-similarity", min=-1.0, max=1.0,
    help="...and the cosine such a title needs to the user's liked titles (served: NEW_ITEM_SIMILARITY).",
)]


def evaluate(
    train: TrainOption = None,
    test: TestOption = None,
    items: ItemsOption = None,
    k: KOption = 10,
    recs_out: RecsOutOption = None,
    split_from: SplitFromOption = None,
    seed: SeedOption = 0,
    split_only: SplitOnlyOption = False,
    no_embeddings: NoEmbeddingsOption = False,
    embedding_cache: EmbeddingCacheOption = None,
    new_item_slots: NewItemSlotsOption = None,
    new_item_similarity: NewItemSimilarityOption = None,
) -> None:
    """Train on TRAIN, serve every TEST user's top k as /recommendations/personalized does, and print P@k,
    R@k, NDCG@k, MRR, success@5, catalog coverage and RMSE over every held-out pair, beside most-rated
    popularity. With ITEMS, each item's text is embedded with the model layer first, so the list is the one
    deployed. Runs in a throwaway embedded PostgreSQL; the configured database is never touched."""
    from cinelibre.recommend import offline

    logger.setLevel("WARNING")
    try:
        if split_from is not None:
            stem = split_from.stem
            train = train or Path(f"{stem}.seed{seed}.train.csv")
            test = test or Path(f"{stem}.seed{seed}.test.csv")
            train_records, test_records = offline.split_file(split_from, train, test, seed=seed)
            typer.echo(f"split {split_from} (seed {seed}): {len(train_records)} ratings to {train}, "
                       f"{len(test_records)} to {test}")
            if split_only:
                return
        else:
            if split_only:
                _fail("--split-only needs --split-from")
            if train is None or test is None:
                _fail("give --train and --test, or --split-from RATINGS.csv --seed N")
            for path in (train, test):
                if not path.is_file():
                    _fail(f"{path} is not a file")
            train_records, test_records = offline.read_ratings(train), offline.read_ratings(test)
        catalog = offline.read_items(items) if items is not None else ()
        if embedding_cache is not None and (no_embeddings or items is None):
            _fail("--embedding-cache needs --items and embeddings (not --no-embeddings)")
        cache = offline.EmbeddingCache(embedding_cache) if embedding_cache is not None else None
        embedder = None if no_embeddings or not catalog else _local_embedder()
        bars = StepProgress(units={"ranking": "user", "embedding": "item"})
        try:
            with offline.throwaway_server() as server_url:
                url = offline.fresh_database(server_url, "evaluation")
                result = offline.evaluate_served(url, train_records, test_records, items=catalog, k=k,
                                                 progress=bars, embedder=embedder, embedding_cache=cache,
                                                 new_item_slots=new_item_slots,
                                                 new_item_similarity=new_item_similarity)
        finally:
            bars.close()
    except CineLibreError as exc:
        _fail(exc.message)
    if recs_out is not None:
        count = offline.write_lists(recs_out, result.lists)
        typer.echo(f"wrote {count} lists to {recs_out}")
    typer.echo(format_result(result))


def _local_embedder():  # noqa: ANN202 (an Embedder; imported late so --help stays quick)
    """The model layer's embedder on every core: a local run, not a Lambda's third of one."""
    from cinelibre.embedding import Embedder
    from cinelibre.settings import get_settings

    return Embedder(get_settings().model_path, threads=os.cpu_count() or 1, batch_size=32)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
