"""issue 14: what the search function's cold start imports. The embedder runs FastEmbed's text path on ONNX
Runtime and tokenizers directly, because `import fastembed` also loads its image stack (Pillow) and
huggingface_hub, about 1.2 s of a 512 MB Lambda's cold start that text embedding never uses. Here the search
handler is imported in a fresh interpreter, loads the model, and the modules it imported are checked."""

from __future__ import annotations

from tests.api.test_functions import modules_loaded_by
from tests.deploy.test_build_function import build_function

NEVER_ON_THE_TEXT_PATH = ("PIL", "huggingface_hub", "fastembed", "tqdm", "loguru", "requests")


def test_importing_the_search_function_loads_the_model_but_not_pillow_or_huggingface_hub(pg_url: str) -> None:
    loaded = modules_loaded_by("search", pg_url)

    assert {"onnxruntime", "tokenizers", "cinelibre.embedding.embedder"} <= loaded  # the model did load
    imported = sorted(name for name in loaded if name.split(".")[0] in NEVER_ON_THE_TEXT_PATH)
    assert imported == []


def test_what_the_text_path_leaves_out_of_the_packages_is_named_with_a_reason() -> None:
    for name, reason in build_function.UNUSED_BY_THE_TEXT_MODEL.items():
        assert name == build_function.canonical_name(name) and reason.strip()
    assert build_function.left_out("huggingface-hub") and build_function.left_out("typer")
    assert not build_function.left_out("tokenizers") and not build_function.left_out("onnxruntime")
