"""The model layer on disk: its frozen description, read from manifest.json and checked before anything loads.

`layers/model/build.py` writes the layer and its manifest (the sha256 of every file); in Lambda the layer is
mounted under /opt. A missing, foreign or corrupt layer raises `ModelUnavailableError` saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cinelibre.errors import ModelUnavailableError

# Also written by layers/model/build.py into the manifest; a layer built by another recipe is refused, and the
# id is part of every content hash, so a new recipe re-embeds the catalogue.
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8-r1"
EMBEDDING_DIMENSION = 384
MANIFEST_NAME = "manifest.json"
REBUILD_HINT = "build it with `make layer` (or point CINELIBRE_MODEL_PATH at a built layer)"


@dataclass(frozen=True)
class ModelSpec:
    """What the layer holds, as its manifest declares it; `from_manifest` refuses anything unexpected."""

    model_id: str
    dimension: int
    pooling: str
    normalize: bool
    max_tokens: int
    model_file: str
    files: Mapping[str, str]  # file name -> sha256

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, object], where: Path) -> ModelSpec:
        try:
            files = manifest["files"]
            spec = cls(
                model_id=str(manifest["model_id"]),
                dimension=int(manifest["dimension"]),  # type: ignore[call-overload]
                pooling=str(manifest["pooling"]),
                normalize=bool(manifest["normalize"]),
                max_tokens=int(manifest["max_tokens"]),  # type: ignore[call-overload]
                model_file=str(manifest["model_file"]),
                files=MappingProxyType({str(name): str(entry["sha256"]) for name, entry in files.items()}),  # type: ignore[union-attr]
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelUnavailableError(
                f"the model manifest {where} is malformed ({exc!r}); {REBUILD_HINT}"
            ) from None
        if spec.model_id != MODEL_ID:
            raise ModelUnavailableError(
                f"the model layer at {where.parent} holds {spec.model_id!r}, "
                f"but this code expects {MODEL_ID!r}; "
                f"{REBUILD_HINT}"
            )
        if spec.dimension != EMBEDDING_DIMENSION or spec.pooling != "mean" or not spec.normalize:
            raise ModelUnavailableError(
                f"the model layer at {where.parent} declares dimension {spec.dimension}, "
                f"pooling {spec.pooling!r}, "
                f"normalize {spec.normalize}; expected {EMBEDDING_DIMENSION}, 'mean', True"
            )
        for required in (spec.model_file, "tokenizer.json", "tokenizer_config.json"):
            if required not in spec.files:
                raise ModelUnavailableError(
                    f"the model manifest {where} does not list {required}; {REBUILD_HINT}"
                )
        return spec


@dataclass(frozen=True)
class VerifiedLayer:
    path: Path
    spec: ModelSpec

    @property
    def model_file(self) -> Path:
        return self.path / self.spec.model_file

    @property
    def tokenizer_file(self) -> Path:
        return self.path / "tokenizer.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path) -> VerifiedLayer:
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ModelUnavailableError(
            f"the embedding model layer is missing: no {MANIFEST_NAME} in {path}; {REBUILD_HINT}"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"cannot read the model manifest {manifest_path}: {exc}; {REBUILD_HINT}"
        ) from None
    if not isinstance(manifest, dict):
        raise ModelUnavailableError(
            f"the model manifest {manifest_path} is not a JSON object; {REBUILD_HINT}"
        )
    spec = ModelSpec.from_manifest(manifest, manifest_path)
    for name, expected in spec.files.items():
        file = path / name
        if not file.is_file():
            raise ModelUnavailableError(
                f"the model layer at {path} is incomplete: {name} is missing; {REBUILD_HINT}"
            )
        try:
            actual = _sha256(file)
        except OSError as exc:
            raise ModelUnavailableError(f"cannot read {file} of the model layer: {exc}") from None
        if actual != expected:
            raise ModelUnavailableError(
                f"the model layer at {path} is corrupt: {name} has sha256 {actual}, "
                f"the manifest says {expected}; "
                f"{REBUILD_HINT}"
            )
    return VerifiedLayer(path=path, spec=spec)


_verified: dict[Path, VerifiedLayer] = {}
_verify_lock = threading.Lock()


def verified_layer(path: Path) -> VerifiedLayer:
    """The layer at `path`, checked once per process (a success is remembered, a failure is not)."""
    key = Path(path).resolve()
    with _verify_lock:
        layer = _verified.get(key)
        if layer is None:
            layer = _verify(key)
            _verified[key] = layer
        return layer


def forget_verified_layers() -> None:
    """Drop the remembered checks, so a layer changed on disk is checked again (tests, long-lived servers)."""
    with _verify_lock:
        _verified.clear()
