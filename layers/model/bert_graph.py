"""The BERT encoder of all-MiniLM-L6-v2 as a plain ONNX graph, built from its safetensors weights.

Exporting with torch would need about 1.2 GB of build-time packages for a six-layer encoder, so the graph is
written here with `onnx.helper` instead. It deliberately follows the node layout of the classic
PyTorch/TorchScript BERT export (bias Add after each MatMul, mask as ``(1 - mask) * -10000``, Erf GELU,
position ids sliced from a constant buffer), because that is the layout onnxruntime's transformer optimizer
recognises and fuses into its Attention, EmbedLayerNormalization, SkipLayerNormalization and BiasGelu kernels.
The output is ``last_hidden_state``; mean pooling and normalisation happen in FastEmbed, as in
sentence-transformers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# onnxruntime 1.13+ runs opset 17 (it brought LayerNormalization); IR 8 keeps older runtimes able to load it.
OPSET = 17
IR_VERSION = 8
# What the MiniLM config used in training: HF BERT's additive mask value and LayerNorm epsilon.
MASK_FILL = -10000.0
LAYER_NORM_EPSILON = 1e-12


@dataclass(frozen=True)
class BertShape:
    layers: int
    hidden: int
    heads: int
    intermediate: int
    max_positions: int

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> BertShape:
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"expected a BERT config with exact GELU, got {config.get('model_type')!r}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        if config.get("layer_norm_eps") != LAYER_NORM_EPSILON:
            raise ValueError(
                f"expected layer_norm_eps {LAYER_NORM_EPSILON}, got {config.get('layer_norm_eps')}"
            )
        return cls(
            layers=int(config["num_hidden_layers"]),
            hidden=int(config["hidden_size"]),
            heads=int(config["num_attention_heads"]),
            intermediate=int(config["intermediate_size"]),
            max_positions=int(config["max_position_embeddings"]),
        )


class _GraphWriter:
    """Collects nodes and initializers; names are derived from the weight names so the graph reads well."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self._weights = weights
        self._used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}

    def weight(self, name: str, *, transpose: bool = False) -> str:
        if name not in self._weights:
            raise KeyError(f"weight {name!r} is missing from the safetensors file")
        self._used.add(name)
        array = np.asarray(self._weights[name], dtype=np.float32)
        # torch Linear stores [out, in]; MatMul wants [in, out].
        if transpose:
            array = np.ascontiguousarray(array.T)
        return self.constant(name, array)

    def constant(self, name: str, value: np.ndarray) -> str:
        if name in self.initializers:
            raise ValueError(f"initializer {name!r} defined twice")
        self.initializers[name] = numpy_helper.from_array(value, name)
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"{output}/{op}", **attributes))
        return output

    def unused_weights(self) -> set[str]:
        return set(self._weights) - self._used


def _linear(g: _GraphWriter, x: str, prefix: str, out: str) -> str:
    product = g.node("MatMul", [x, g.weight(f"{prefix}.weight", transpose=True)], f"{out}.matmul")
    return g.node("Add", [product, g.weight(f"{prefix}.bias")], out)


def _layer_norm(g: _GraphWriter, x: str, prefix: str, out: str) -> str:
    return g.node(
        "LayerNormalization",
        [x, g.weight(f"{prefix}.weight"), g.weight(f"{prefix}.bias")],
        out,
        axis=-1,
        epsilon=LAYER_NORM_EPSILON,
    )


def _embeddings(g: _GraphWriter, shape: BertShape) -> str:
    words = g.node("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"], "embeddings.words")
    types = g.node(
        "Gather", [g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], "embeddings.types"
    )
    summed = g.node("Add", [words, types], "embeddings.words_types")
    input_shape = g.node("Shape", ["input_ids"], "embeddings.input_shape")
    seq_len = g.node("Gather", [input_shape, "const.int_one"], "embeddings.seq_len")
    seq_end = g.node("Unsqueeze", [seq_len, "const.axes0"], "embeddings.seq_end")
    position_buffer = g.constant(
        "embeddings.position_ids", np.arange(shape.max_positions, dtype=np.int64).reshape(1, -1)
    )
    position_ids = g.node(
        "Slice",
        [
            position_buffer,
            "const.axes0",
            seq_end,
            "const.axes1",
            "const.axes1",
        ],
        "embeddings.position_slice",
    )
    positions = g.node(
        "Gather", [g.weight("embeddings.position_embeddings.weight"), position_ids], "embeddings.positions"
    )
    total = g.node("Add", [summed, positions], "embeddings.sum")
    return _layer_norm(g, total, "embeddings.LayerNorm", "embeddings.output")


def _additive_mask(g: _GraphWriter) -> str:
    mask = g.node("Unsqueeze", ["attention_mask", "const.axes1"], "mask.unsqueeze1")
    mask = g.node("Unsqueeze", [mask, "const.axes2"], "mask.unsqueeze2")
    mask = g.node("Cast", [mask], "mask.float", to=TensorProto.FLOAT)
    inverted = g.node("Sub", ["const.float_one", mask], "mask.inverted")
    return g.node("Mul", [inverted, "const.mask_fill"], "mask.bias")


def _heads(g: _GraphWriter, x: str, out: str, perm: list[int]) -> str:
    split = g.node("Reshape", [x, "const.heads_shape"], f"{out}.split")
    return g.node("Transpose", [split], out, perm=perm)


def _attention(g: _GraphWriter, x: str, mask_bias: str, shape: BertShape, prefix: str) -> str:
    query = _heads(
        g, _linear(g, x, f"{prefix}.attention.self.query", f"{prefix}.q"), f"{prefix}.q_heads", [0, 2, 1, 3]
    )
    key = _heads(
        g, _linear(g, x, f"{prefix}.attention.self.key", f"{prefix}.k"), f"{prefix}.k_heads", [0, 2, 3, 1]
    )
    value = _heads(
        g, _linear(g, x, f"{prefix}.attention.self.value", f"{prefix}.v"), f"{prefix}.v_heads", [0, 2, 1, 3]
    )
    scores = g.node("MatMul", [query, key], f"{prefix}.scores")
    scores = g.node("Div", [scores, "const.score_scale"], f"{prefix}.scores_scaled")
    scores = g.node("Add", [scores, mask_bias], f"{prefix}.scores_masked")
    probabilities = g.node("Softmax", [scores], f"{prefix}.probabilities", axis=-1)
    context = g.node("MatMul", [probabilities, value], f"{prefix}.context_heads")
    context = g.node("Transpose", [context], f"{prefix}.context_tokens", perm=[0, 2, 1, 3])
    context = g.node("Reshape", [context, "const.hidden_shape"], f"{prefix}.context")
    projected = _linear(g, context, f"{prefix}.attention.output.dense", f"{prefix}.attention_out")
    residual = g.node("Add", [projected, x], f"{prefix}.attention_residual")
    return _layer_norm(g, residual, f"{prefix}.attention.output.LayerNorm", f"{prefix}.attention_norm")


def _gelu(g: _GraphWriter, x: str, out: str) -> str:
    # Exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), in the node order of the PyTorch export.
    scaled = g.node("Div", [x, "const.sqrt2"], f"{out}.div")
    erf = g.node("Erf", [scaled], f"{out}.erf")
    shifted = g.node("Add", [erf, "const.float_one"], f"{out}.add")
    product = g.node("Mul", [x, shifted], f"{out}.mul")
    return g.node("Mul", [product, "const.half"], out)


def _feed_forward(g: _GraphWriter, x: str, prefix: str, out: str) -> str:
    up = _linear(g, x, f"{prefix}.intermediate.dense", f"{prefix}.ffn_up")
    activated = _gelu(g, up, f"{prefix}.ffn_gelu")
    down = _linear(g, activated, f"{prefix}.output.dense", f"{prefix}.ffn_down")
    residual = g.node("Add", [down, x], f"{prefix}.ffn_residual")
    return _layer_norm(g, residual, f"{prefix}.output.LayerNorm", out)


def build_bert_graph(weights: Mapping[str, np.ndarray], config: Mapping[str, object]) -> onnx.ModelProto:
    """The encoder as an ONNX model with inputs input_ids, attention_mask, token_type_ids (int64)."""
    shape = BertShape.from_config(config)
    g = _GraphWriter(weights)
    g.constant("const.heads_shape", np.array([0, 0, shape.heads, shape.head_size], np.int64))
    g.constant("const.hidden_shape", np.array([0, 0, shape.hidden], np.int64))
    g.constant("const.score_scale", np.array(math.sqrt(shape.head_size), np.float32))
    g.constant("const.sqrt2", np.array(math.sqrt(2.0), np.float32))
    g.constant("const.half", np.array(0.5, np.float32))
    g.constant("const.float_one", np.array(1.0, np.float32))
    g.constant("const.mask_fill", np.array(MASK_FILL, np.float32))
    g.constant("const.int_one", np.array(1, np.int64))
    # Slice starts and Unsqueeze axes; [0] and [1] double as the Slice's start and step.
    for axis in range(3):
        g.constant(f"const.axes{axis}", np.array([axis], np.int64))

    hidden = _embeddings(g, shape)
    mask_bias = _additive_mask(g)
    for index in range(shape.layers):
        prefix = f"encoder.layer.{index}"
        hidden = _attention(g, hidden, mask_bias, shape, prefix)
        last = index == shape.layers - 1
        hidden = _feed_forward(g, hidden, prefix, "last_hidden_state" if last else f"{prefix}.output")

    # The buffer of position ids is rebuilt above and the CLS pooler is not part of a sentence-transformers
    # embedding (it mean-pools the tokens); anything else left over means the config and the weights disagree.
    leftovers = g.unused_weights() - {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
    if leftovers:
        raise ValueError(f"weights not used by the graph: {sorted(leftovers)[:5]}")

    token_inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", shape.hidden]
    )
    graph = helper.make_graph(
        g.nodes, "all_minilm_l6_v2", token_inputs, [output], initializer=list(g.initializers.values())
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model
