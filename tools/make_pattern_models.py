"""Build the *pattern zoo*: small random-weight models with the structures of real networks.

The shared test zoo (``tests/data/zoo``, from ``../shared/models/make_models.py``) has seven
toy models. Real networks expose FakeQuantize placement rules those never reach: YOLOv8's
C2f/SPPF/DFL head, ViT/SVTR attention with a fused QKV projection split by StridedSlice or
Gather, MobileNetV3's HSwish/HSigmoid/SE blocks, BERT's masked attention, recurrent
``LSTMSequence``/``GRUSequence`` cells with a non-batch-first state input, U-Net/FPN decoders
with bilinear upsampling, 3D convolutions, transposed convolutions and the depthwise/grouped/1x1
convolution pairs POT's ActivationChannelAlignment rescales. This script rebuilds
those structures at tiny widths with fixed seeds (He init for convolutions, Xavier-like init
for transformer projections) together with deterministic, deliberately non-Gaussian
calibration data (mixtures, heavy tails, outlier spikes, exact zeros).

Output (same layout as the shared zoo): ``<name>.xml/.bin`` (``openvino.serialize``, FP32
weights), ``<name>.npz`` (one array per input, ``[N, *input_shape[1:]]``) and
``manifest.json``. Inputs that have no batch axis -- the recurrent ``state`` inputs
``[2, 1, H]`` / ``[1, 1, H]``, laid out as in Silero VAD -- are stored as ``[N, *shape]``
instead, so that sample ``i`` is ``data[name][i]`` and ``data[name][i:i + 1]`` (what a
POT ``DataLoader`` returns) squeezes and reshapes back to the input shape; the manifest
records this per input (``calibration_shape``, ``sample_layout``).

Only numpy and openvino are needed; the graphs are built with the ``opsetN`` modules, imported
from ``openvino`` (2024+) or ``openvino.runtime`` (2023.x), so the script runs unchanged
under OpenVINO 2023.3 (the POT environment) and 2026.x.

Usage::

    python tools/make_pattern_models.py [OUT_DIR] [--only NAME ...] [--list]
    python tools/make_pattern_models.py --check OUT_DIR [--save-outputs FILE.npz]

``OUT_DIR`` defaults to ``tests/data/zoo_patterns``. ``--check`` loads every model of
``OUT_DIR``, runs it in FP32 on all calibration samples and optionally saves the outputs;
``--compare A.npz B.npz`` prints the largest difference between two saved output files
(e.g. from OpenVINO 2023.3 and 2026.x) and fails above 1e-5 relative to max(1, max|output|).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import openvino as ov

try:  # OpenVINO >= 2024
    import openvino.opset1 as op1
    import openvino.opset4 as op4
    import openvino.opset5 as op5
    import openvino.opset6 as op6
    import openvino.opset7 as op7
    import openvino.opset8 as op8
    import openvino.opset10 as op10
    from openvino.utils.node_factory import NodeFactory
except ImportError:  # OpenVINO 2023.x
    import openvino.runtime.opset1 as op1
    import openvino.runtime.opset4 as op4
    import openvino.runtime.opset5 as op5
    import openvino.runtime.opset6 as op6
    import openvino.runtime.opset7 as op7
    import openvino.runtime.opset8 as op8
    import openvino.runtime.opset10 as op10
    from openvino.runtime.utils.node_factory import NodeFactory

F32 = np.float32
I64 = np.int64

#: Bumped whenever the generated weights or data change on purpose.
ZOO_VERSION = 1

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "data", "zoo_patterns")


# --------------------------------------------------------------------------
# Graph-building helpers
# --------------------------------------------------------------------------
def named(node, name):
    """Give ``node`` the friendly name ``name`` and return it."""
    node.set_friendly_name(name)
    return node


def iconst(values, name, dtype=I64):
    """Integer constant (shapes, axes, indices)."""
    return op1.constant(np.asarray(values, dtype=dtype), name=name)


def fconst(values, name):
    """Float32 constant."""
    return op1.constant(np.asarray(values, dtype=F32), name=name)


def reshape(x, shape, name):
    """Reshape to a constant target shape (``special_zero`` off)."""
    return op1.reshape(x, iconst(shape, f"{name}/shape"), False, name=name)


def transpose(x, order, name):
    """Transpose by a constant permutation."""
    return op1.transpose(x, iconst(order, f"{name}/order"), name=name)


def unsqueeze(x, axes, name):
    """Unsqueeze at constant axes."""
    # opset1.unsqueeze ignores its ``name`` argument: set the friendly name explicitly.
    return named(op1.unsqueeze(x, iconst(axes, f"{name}/axes")), name)


def squeeze(x, axes, name):
    """Squeeze constant axes."""
    return op1.squeeze(x, iconst(axes, f"{name}/axes"), name=name)


def gather(x, index, axis, name):
    """Gather-8 of a constant (scalar or 1-D) index along a constant axis."""
    node = op8.gather(x, iconst(index, f"{name}/indices"), iconst(axis, f"{name}/axis"))
    return named(node, name)


def reduce_mean(x, axes, keep, name):
    """ReduceMean over constant axes."""
    return op1.reduce_mean(x, iconst(axes, f"{name}/axes"), keep, name=name)


def max_pool(x, kernel, stride, pad, name):
    """MaxPool-1 with symmetric padding (2D or 3D, from the length of ``kernel``)."""
    return op1.max_pool(x, list(stride), list(pad), list(pad), list(kernel), name=name)


def interpolate(
    x, sizes, scales, mode, name, coord="half_pixel", nearest="round_prefer_floor", calc="scales"
):
    """Interpolate-4 over the spatial axes (2, 3) as ONNX Resize / MO produce it."""
    return op10.interpolate(
        x,
        iconst(sizes, f"{name}/sizes"),
        fconst(scales, f"{name}/scales"),
        mode,
        calc,
        pads_begin=[0, 0, 0, 0],
        pads_end=[0, 0, 0, 0],
        coordinate_transformation_mode=coord,
        nearest_mode=nearest,
        axes=iconst([2, 3], f"{name}/axes"),
        name=name,
    )


class GraphBuilder:
    """Creates named OpenVINO nodes with seeded weights.

    Every node gets an explicit, stable friendly name so that the golden files can refer to
    nodes by name. Weights are drawn from ``rng`` in creation order, in float64, and only
    then cast to float32, which keeps the stream identical across NumPy versions.
    """

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    # -- weights -------------------------------------------------------------
    def he_normal(self, shape, fan_in):
        """He (Kaiming) normal init: std = sqrt(2 / fan_in)."""
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(F32)

    def normal(self, shape, std, mean=0.0):
        """N(mean, std^2) as float32."""
        return (mean + self.rng.standard_normal(shape) * std).astype(F32)

    def uniform(self, shape, low, high):
        """U(low, high) as float32."""
        return self.rng.uniform(low, high, shape).astype(F32)

    # -- layers --------------------------------------------------------------
    def conv(
        self,
        x,
        cin,
        cout,
        k,
        name,
        stride=1,
        pad=None,
        bias=True,
        act=None,
        dims=2,
        bias_std=0.1,
        bias_mean=0.0,
    ):
        """Convolution (1D/2D/3D by ``dims``) + optional bias Add + optional activation."""
        ks = (k,) * dims if isinstance(k, int) else tuple(k)
        pads = [kk // 2 for kk in ks] if pad is None else [pad] * dims
        strides = [stride] * dims if isinstance(stride, int) else list(stride)
        w = self.he_normal((cout, cin, *ks), fan_in=cin * int(np.prod(ks)))
        y = op1.convolution(
            x, fconst(w, f"{name}/weights"), strides, pads, pads, [1] * dims, name=name
        )
        if bias:
            b = self.normal((1, cout) + (1,) * dims, bias_std, bias_mean)
            y = op1.add(y, fconst(b, f"{name}/bias"), name=f"{name}/add")
        return self.activation(y, act, name)

    def dwconv(self, x, channels, k, name, stride=1, act=None):
        """Depthwise convolution (GroupConvolution, groups == channels) + bias."""
        pad = k // 2
        w = self.he_normal((channels, 1, 1, k, k), fan_in=k * k)
        y = op1.group_convolution(
            x,
            fconst(w, f"{name}/weights"),
            [stride, stride],
            [pad, pad],
            [pad, pad],
            [1, 1],
            name=name,
        )
        b = self.normal((1, channels, 1, 1), 0.1)
        y = op1.add(y, fconst(b, f"{name}/bias"), name=f"{name}/add")
        return self.activation(y, act, name)

    def deconv(self, x, cin, cout, k, stride, pad, name, act=None):
        """Transposed convolution (ConvolutionBackpropData, weights [Cin, Cout, k, k]) + bias."""
        w = self.he_normal((cin, cout, k, k), fan_in=cin * k * k / (stride * stride))
        y = op1.convolution_backprop_data(
            x,
            fconst(w, f"{name}/weights"),
            [stride, stride],
            pads_begin=[pad, pad],
            pads_end=[pad, pad],
            dilations=[1, 1],
            name=name,
        )
        b = self.normal((1, cout, 1, 1), 0.1)
        y = op1.add(y, fconst(b, f"{name}/bias"), name=f"{name}/add")
        return self.activation(y, act, name)

    def linear(self, x, fin, fout, name, bias=True, act=None, init="he", bias_std=0.05):
        """Fully-connected layer stored PyTorch-style: W[fout, fin], MatMul(x, W^T)."""
        if init == "he":
            w = self.he_normal((fout, fin), fan_in=fin)
        else:  # Xavier-like scale, common for transformer projections
            w = self.normal((fout, fin), np.sqrt(1.0 / fin))
        y = op1.matmul(x, fconst(w, f"{name}/weights"), False, True, name=name)
        if bias:
            b = self.normal((fout,), bias_std)
            y = op1.add(y, fconst(b, f"{name}/bias"), name=f"{name}/add")
        return self.activation(y, act, name)

    def layer_norm(self, x, dim, name, axis, eps=1e-5):
        """LayerNorm as MVN-6 (inside_sqrt) + gamma Multiply + beta Add."""
        mvn = op6.mvn(
            x, iconst([axis], f"{name}/axes"), True, eps, "inside_sqrt", name=f"{name}/mvn"
        )
        gamma = (1.0 + 0.1 * self.rng.standard_normal(dim)).astype(F32)
        beta = (0.05 * self.rng.standard_normal(dim)).astype(F32)
        y = op1.multiply(mvn, fconst(gamma, f"{name}/gamma"), name=f"{name}/scale")
        return op1.add(y, fconst(beta, f"{name}/beta"), name=name)

    @staticmethod
    def activation(y, act, name):
        """Append an activation named ``<name>/<act>`` (None: none)."""
        if act is None:
            return y
        if act == "relu":
            return op1.relu(y, name=f"{name}/relu")
        if act == "relu6":
            return op1.clamp(y, 0.0, 6.0, name=f"{name}/relu6")
        if act == "gelu":
            return op7.gelu(y, "erf", name=f"{name}/gelu")
        if act == "gelu_tanh":
            return op7.gelu(y, "tanh", name=f"{name}/gelu")
        if act == "swish":
            # SiLU as OpenVINO's one-input Swish op, which is what MO / the ONNX frontend fuse
            # x * Sigmoid(x) into (opset4.swish would add a beta = 1 Constant input).
            return named(NodeFactory("opset4").create("Swish", [y.output(0)], {}), f"{name}/swish")
        if act == "silu_mul":  # SiLU left unfused: x * Sigmoid(x)
            s = op1.sigmoid(y, name=f"{name}/sigmoid")
            return op1.multiply(y, s, name=f"{name}/silu")
        if act == "hswish":
            return named(op4.hswish(y), f"{name}/hswish")
        if act == "sigmoid":
            return op1.sigmoid(y, name=f"{name}/sigmoid")
        if act == "tanh":
            return op1.tanh(y, name=f"{name}/tanh")
        raise ValueError(f"unknown activation {act!r}")


def make_input(name, shape):
    """Parameter whose tensor is named like the node."""
    p = op1.parameter(shape, F32, name=name)
    p.output(0).get_tensor().set_names({name})
    return p


def make_model(outputs, inputs, name):
    """Wrap ``{output_name: node_output}`` into an ov.Model with named Result nodes."""
    results = []
    for out_name, value in outputs.items():
        out = value if hasattr(value, "get_node") else value.output(0)
        out.get_tensor().set_names({out_name})
        results.append(op1.result(out, name=f"{out_name}/result"))
    return ov.Model(results, inputs, name)


# --------------------------------------------------------------------------
# Calibration-data helpers (float64 internally, cast to float32 at the end)
# --------------------------------------------------------------------------
def smooth_noise(rng, n, c, h, w, cell):
    """Low-frequency noise: coarse N(0,1) grid upsampled by ``cell`` (nearest), cropped."""
    ch, cw = -(-h // cell), -(-w // cell)
    coarse = rng.standard_normal((n, c, ch, cw))
    return coarse.repeat(cell, axis=2).repeat(cell, axis=3)[:, :, :h, :w]


def add_outliers(rng, x, prob, low, high):
    """Replace a fraction ``prob`` of entries with +-U(low, high) spikes."""
    mask = rng.random(x.shape) < prob
    sign = np.where(rng.random(x.shape) < 0.5, -1.0, 1.0)
    spikes = sign * rng.uniform(low, high, x.shape)
    return np.where(mask, spikes, x)


def natural_images(rng, n, c, h, w):
    """Pixels in [0, 1]: sigmoid of smooth noise, per-sample contrast, saturated blobs."""
    contrast = rng.uniform(0.5, 2.5, (n, 1, 1, 1))
    logits = contrast * smooth_noise(rng, n, c, h, w, 4) + 0.4 * rng.standard_normal((n, c, h, w))
    img = 1.0 / (1.0 + np.exp(-logits))
    blob = (rng.random((n, 1, h, w)) < 0.02) & (rng.random((n, 1, 1, 1)) < 0.5)
    img = np.where(blob, 1.0, img)
    dark = rng.random((n, 1, 1, 1)) < 0.15  # under-exposed frames
    return np.where(dark, 0.15 * img, img)


def recurrent_state(rng, n, slots, hidden, kinds):
    """Draw recurrent states ``[n, slots, 1, hidden]``.

    ``kinds[s]`` is ``"h"`` (tanh range) or ``"c"`` (cell state, heavier tails); 20% of the
    samples are the all-zero initial state.
    """
    out = np.empty((n, slots, 1, hidden))
    for s, kind in enumerate(kinds):
        if kind == "h":
            out[:, s] = np.tanh(rng.normal(0.0, 1.2, (n, 1, hidden)))
        else:
            out[:, s] = rng.laplace(0.0, 0.8, (n, 1, hidden)) * rng.uniform(0.5, 2.0, (n, 1, 1))
    out[rng.random(n) < 0.2] = 0.0
    return out


# --------------------------------------------------------------------------
# Models.  Each builder returns (ov.Model, {input_name: np.ndarray}, meta)
# --------------------------------------------------------------------------
def build_yolo_c2f(seed):
    """YOLOv8-n style backbone/neck/head at tiny width (input 16x32, strides 4 and 8)."""
    g = GraphBuilder(seed)
    hh0, ww0 = 16, 32
    x = make_input("images", [1, 3, hh0, ww0])
    size3, size4 = (hh0 // 4, ww0 // 4), (hh0 // 8, ww0 // 8)

    def c2f(t, cin, cout, n, name, silu_mul_last=False):
        """C2f: 1x1 conv -> VariadicSplit -> n bottlenecks (residual) -> Concat -> 1x1 conv."""
        c = cout // 2
        y = g.conv(t, cin, 2 * c, 1, f"{name}/cv1", act="swish")
        parts = op1.variadic_split(
            y,
            iconst(1, f"{name}/split/axis"),
            iconst([c, c], f"{name}/split/lengths"),
            name=f"{name}/split",
        )
        outs = [parts.output(0), parts.output(1)]
        h = parts.output(1)
        for i in range(n):
            last_act = "silu_mul" if silu_mul_last and i == n - 1 else "swish"
            b = g.conv(h, c, c, 3, f"{name}/m{i}/cv1", act="swish")
            b = g.conv(b, c, c, 3, f"{name}/m{i}/cv2", act=last_act)
            h = op1.add(h, b, name=f"{name}/m{i}/add")
            outs.append(h.output(0))
        cat = op1.concat(outs, 1, name=f"{name}/concat")
        return g.conv(cat, (2 + n) * c, cout, 1, f"{name}/cv2", act="swish")

    y = g.conv(x, 3, 8, 3, "stem", stride=2, act="swish")  # 8x16
    y = g.conv(y, 8, 16, 3, "down1", stride=2, act="swish")  # 4x8
    p3 = c2f(y, 16, 16, 2, "c2f1", silu_mul_last=True)
    y = g.conv(p3, 16, 32, 3, "down2", stride=2, act="swish")  # 2x4
    # SPPF: 1x1 conv, three chained 5x5 MaxPools, Concat, 1x1 conv.
    s = g.conv(y, 32, 16, 1, "sppf/cv1", act="swish")
    m1 = max_pool(s, [5, 5], [1, 1], [2, 2], "sppf/pool1")
    m2 = max_pool(m1, [5, 5], [1, 1], [2, 2], "sppf/pool2")
    m3 = max_pool(m2, [5, 5], [1, 1], [2, 2], "sppf/pool3")
    s = op1.concat([s, m1, m2, m3], 1, name="sppf/concat")
    p4 = g.conv(s, 64, 32, 1, "sppf/cv2", act="swish")
    # FPN top-down: nearest x2 upsample + Concat with the stride-4 feature.
    up = interpolate(
        p4, list(size3), [2.0, 2.0], "nearest", "neck/up", coord="asymmetric", nearest="floor"
    )
    n3 = op1.concat([up, p3], 1, name="neck/concat_p3")
    n3 = c2f(n3, 48, 16, 1, "neck/c2f_p3")
    # PAN bottom-up: stride-2 conv + Concat with the stride-8 feature.
    d = g.conv(n3, 16, 16, 3, "neck/down", stride=2, act="swish")
    n4 = op1.concat([d, p4], 1, name="neck/concat_p4")
    n4 = g.conv(n4, 48, 32, 1, "neck/c2f_p4", act="swish")

    # Decoupled head per level: box branch -> 4*16 DFL logits, class branch -> 4 classes.
    reg_max, nc = 16, 4
    levels = []
    for lvl, (feat, c, (hh, ww)) in enumerate([(n3, 16, size3), (n4, 32, size4)]):
        b = g.conv(feat, c, 16, 3, f"head{lvl}/box/cv1", act="swish")
        b = g.conv(b, 16, 16, 3, f"head{lvl}/box/cv2", act="swish")
        b = g.conv(b, 16, 4 * reg_max, 1, f"head{lvl}/box/cv3", bias_std=1.0)
        k = g.conv(feat, c, 8, 3, f"head{lvl}/cls/cv1", act="swish")
        k = g.conv(k, 8, 8, 3, f"head{lvl}/cls/cv2", act="swish")
        k = g.conv(k, 8, nc, 1, f"head{lvl}/cls/cv3", bias_mean=-3.0, bias_std=0.3)
        cat = op1.concat([b, k], 1, name=f"head{lvl}/concat")
        levels.append(reshape(cat, [1, 4 * reg_max + nc, hh * ww], f"head{lvl}/flatten"))
    anchors_n = size3[0] * size3[1] + size4[0] * size4[1]
    pred = op1.concat(levels, 2, name="head/concat_levels")  # [1, 68, 40]
    box_cls = op1.variadic_split(
        pred,
        iconst(1, "head/split/axis"),
        iconst([4 * reg_max, nc], "head/split/lengths"),
        name="head/split",
    )
    # DFL: Reshape [1,4,16,A] -> Transpose [1,16,4,A] -> Softmax over the 16 bins -> 1x1 conv
    # with fixed weights 0..15 (no bias) -> Reshape [1,4,A].
    dfl = reshape(box_cls.output(0), [1, 4, reg_max, anchors_n], "dfl/reshape")
    dfl = transpose(dfl, [0, 2, 1, 3], "dfl/transpose")
    dfl = op1.softmax(dfl, 1, name="dfl/softmax")
    proj = np.arange(reg_max, dtype=F32).reshape(1, reg_max, 1, 1)
    dfl = op1.convolution(
        dfl, fconst(proj, "dfl/conv/weights"), [1, 1], [0, 0], [0, 0], [1, 1], name="dfl/conv"
    )
    dfl = reshape(dfl, [1, 4, anchors_n], "dfl/out")
    # dist2bbox (xywh) and stride scaling.
    grid, strides = [], []
    for (hh, ww), st in ((size3, 4.0), (size4, 8.0)):
        yy, xx = np.meshgrid(np.arange(hh) + 0.5, np.arange(ww) + 0.5, indexing="ij")
        grid.append(np.stack([xx.ravel(), yy.ravel()]))
        strides.append(np.full(hh * ww, st))
    anchors = fconst(np.concatenate(grid, 1)[None], "dbox/anchors")
    stride_c = fconst(np.concatenate(strides)[None, None], "dbox/strides")
    lt_rb = op1.variadic_split(
        dfl, iconst(1, "dbox/split/axis"), iconst([2, 2], "dbox/split/lengths"), name="dbox/split"
    )
    x1y1 = op1.subtract(anchors, lt_rb.output(0), name="dbox/x1y1")
    x2y2 = op1.add(anchors, lt_rb.output(1), name="dbox/x2y2")
    cxy = op1.divide(
        op1.add(x1y1, x2y2, name="dbox/sum"), fconst([2.0], "dbox/two"), name="dbox/cxy"
    )
    wh = op1.subtract(x2y2, x1y1, name="dbox/wh")
    dbox = op1.multiply(op1.concat([cxy, wh], 1, name="dbox/concat"), stride_c, name="dbox/scale")
    cls = op1.sigmoid(box_cls.output(1), name="cls/sigmoid")
    out = op1.concat([dbox, cls], 1, name="output0")
    model = make_model({"output0": out}, [x], "yolo_c2f")

    rng = np.random.default_rng(seed + 1000)
    n = 32
    data = natural_images(rng, n, 3, hh0, ww0)
    return (
        model,
        {"images": data.astype(F32)},
        {
            "description": "YOLOv8-style: Swish stem convs, C2f (1x1 conv, VariadicSplit, 2 residual "
            "bottlenecks, the last with x*Sigmoid(x), Concat, 1x1 conv), SPPF (3 chained "
            "MaxPool 5x5 + Concat), FPN nearest Interpolate + Concat + C2f, PAN stride-2 "
            "conv + Concat, decoupled heads on 2 levels, Reshape/Concat of levels, "
            "VariadicSplit, DFL (Reshape, Transpose, Softmax over 16 bins, 1x1 conv "
            "with fixed 0..15 weights), dist2bbox (Subtract/Add/Divide/Multiply), "
            "class Sigmoid, output Concat",
            "calibration_description": "pixels in [0,1] (sigmoid of smooth noise, per-sample contrast), "
            "saturated blobs (exactly 1.0), 15% under-exposed frames",
        },
    )


def build_svtr_attention(seed):
    """SVTR-style text recogniser: conv stem, 2 ViT blocks with fused QKV, CTC head."""
    g = GraphBuilder(seed)
    x = make_input("x", [1, 3, 16, 32])
    dim, heads = 24, 2
    hd = dim // heads
    y = g.conv(x, 3, 16, 3, "patch/conv1", stride=2, act="gelu")  # 8x16
    y = g.conv(y, 16, dim, 3, "patch/conv2", stride=2, act="gelu")  # 4x8
    t = 4 * 8
    y = reshape(y, [1, dim, t], "patch/flatten")
    y = transpose(y, [0, 2, 1], "patch/transpose")  # [1, T, C]
    y = op1.add(y, fconst(g.normal((1, t, dim), 0.02), "pos_embed"), name="pos_add")

    def attention(h, name, split):
        qkv = g.linear(h, dim, 3 * dim, f"{name}/qkv", init="xavier")
        qkv = reshape(qkv, [1, t, 3, heads, hd], f"{name}/qkv_reshape")
        qkv = transpose(qkv, [2, 0, 3, 1, 4], f"{name}/qkv_transpose")  # [3, 1, H, T, D]
        parts = []
        for i, part in enumerate("qkv"):
            if split == "strided_slice":
                p = op1.strided_slice(
                    qkv,
                    iconst([i], f"{name}/{part}/begin"),
                    iconst([i + 1], f"{name}/{part}/end"),
                    iconst([1], f"{name}/{part}/stride"),
                    [0],
                    [0],
                    shrink_axis_mask=[1],
                    name=f"{name}/{part}",
                )
            else:
                p = gather(qkv, i, 0, f"{name}/{part}")
            parts.append(p)
        q, k, v = parts
        q = op1.multiply(q, fconst([hd**-0.5], f"{name}/scale_value"), name=f"{name}/scale")
        if split == "strided_slice":
            s = op1.matmul(q, k, False, True, name=f"{name}/qk")
        else:  # explicit k.transpose(0, 1, 3, 2), as PaddleOCR writes it
            kt = transpose(k, [0, 1, 3, 2], f"{name}/k_transpose")
            s = op1.matmul(q, kt, False, False, name=f"{name}/qk")
        p = op1.softmax(s, 3, name=f"{name}/softmax")
        c = op1.matmul(p, v, False, False, name=f"{name}/pv")
        c = transpose(c, [0, 2, 1, 3], f"{name}/merge_transpose")
        c = reshape(c, [1, t, dim], f"{name}/merge_reshape")
        return g.linear(c, dim, dim, f"{name}/proj", init="xavier")

    def mlp(h, name):
        f = g.linear(h, dim, 2 * dim, f"{name}/fc1", init="xavier", act="gelu")
        return g.linear(f, 2 * dim, dim, f"{name}/fc2", init="xavier")

    # Block 0: SVTR's "prenorm" block (norm after the residual Add), StridedSlice head split.
    a = attention(y, "block0/attn", "strided_slice")
    y = g.layer_norm(op1.add(y, a, name="block0/add1"), dim, "block0/norm1", 2, 1e-6)
    m = mlp(y, "block0/mlp")
    y = g.layer_norm(op1.add(y, m, name="block0/add2"), dim, "block0/norm2", 2, 1e-6)
    # Block 1: pre-LN ViT block, Gather head split and explicit K transpose.
    a = attention(g.layer_norm(y, dim, "block1/norm1", 2, 1e-6), "block1/attn", "gather")
    y = op1.add(y, a, name="block1/add1")
    m = mlp(g.layer_norm(y, dim, "block1/norm2", 2, 1e-6), "block1/mlp")
    y = op1.add(y, m, name="block1/add2")
    y = g.layer_norm(y, dim, "norm", 2, 1e-6)
    # Last stage: back to [1, C, 4, 8], average over the height, 1x1 conv + HSwish, CTC head.
    y = reshape(transpose(y, [0, 2, 1], "last/transpose"), [1, dim, 4, 8], "last/reshape")
    y = reduce_mean(y, [2], True, "last/pool")  # [1, C, 1, 8]
    y = g.conv(y, dim, 48, 1, "last/conv", act="hswish")
    y = transpose(reshape(y, [1, 48, 8], "head/flatten"), [0, 2, 1], "head/transpose")
    y = g.linear(y, 48, 20, "head/fc", init="xavier")
    out = op1.softmax(y, 2, name="ctc_probs")
    model = make_model({"ctc_probs": out}, [x], "svtr_attention")

    # Text-line crops normalised to [-1, 1]: bright background with dark strokes (or the
    # inverse), blur-like smooth noise, and 25% of the crops with heavy sensor noise.
    rng = np.random.default_rng(seed + 1000)
    n = 32
    strokes = (smooth_noise(rng, n, 1, 16, 32, 2) > 0.8).astype(np.float64)
    bg = rng.uniform(0.6, 1.0, (n, 3, 1, 1)) + 0.1 * smooth_noise(rng, n, 3, 16, 32, 8)
    fg = rng.uniform(0.0, 0.35, (n, 3, 1, 1))
    img = np.where(strokes > 0, fg, bg)
    invert = rng.random((n, 1, 1, 1)) < 0.3
    img = np.where(invert, 1.0 - img, img)
    noisy = rng.random((n, 1, 1, 1)) < 0.25
    img = img + np.where(noisy, rng.standard_t(4, (n, 3, 16, 32)) * 0.15, 0.0)
    data = (np.clip(img, 0.0, 1.0) - 0.5) / 0.5
    return (
        model,
        {"x": data.astype(F32)},
        {
            "description": "SVTR/ViT text recogniser: conv stem (2 stride-2 conv+GELU), flatten "
            "Reshape/Transpose to tokens, positional Add; block0 post-norm (fused QKV "
            "MatMul+bias, Reshape [1,T,3,H,D], Transpose, StridedSlice q/k/v, q scale, "
            "MatMul(q,k^T), Softmax, MatMul(attn,v), merge, proj; residual Add + MVN "
            "LayerNorm; GELU MLP); block1 pre-LN with Gather q/k/v and an explicit K "
            "Transpose; MVN LayerNorm, ReduceMean over height, 1x1 conv + HSwish, "
            "CTC MatMul + Softmax",
            "calibration_description": "text-line crops in [-1,1]: bright background / dark strokes, 30% "
            "inverted, 25% with Student-t(4) noise, clipped",
        },
    )


def build_mobilenet_v3(seed):
    """MobileNetV3-small style blocks: HSwish, ReLU6, depthwise convs, SE, inverted residuals."""
    g = GraphBuilder(seed)
    x = make_input("image", [1, 3, 16, 16])

    def se(t, c, cs, name, gate):
        s = reduce_mean(t, [2, 3], True, f"{name}/pool")
        s = g.conv(s, c, cs, 1, f"{name}/fc1", act="relu")
        s = g.conv(s, cs, c, 1, f"{name}/fc2")
        if gate == "hsigmoid":
            s = named(op5.hsigmoid(s), f"{name}/hsigmoid")
        else:  # HardSigmoid-1 (alpha 1/6, beta 0.5), as ONNX HardSigmoid converts
            s = op1.hard_sigmoid(
                s,
                fconst(1.0 / 6.0, f"{name}/alpha"),
                fconst(0.5, f"{name}/beta"),
                name=f"{name}/hardsigmoid",
            )
        return op1.multiply(t, s, name=f"{name}/mul")

    y = g.conv(x, 3, 16, 3, "stem", stride=2, act="hswish")  # 8x8
    # bneck 1: depthwise 3x3 + ReLU, SE, linear 1x1 projection, residual.
    b = g.dwconv(y, 16, 3, "b1/dw", act="relu")
    b = se(b, 16, 8, "b1/se", "hsigmoid")
    b = g.conv(b, 16, 16, 1, "b1/project")
    y = op1.add(y, b, name="b1/add")
    # bneck 2: expand 1x1 + ReLU6, depthwise 3x3 stride 2 + ReLU6, projection (no residual).
    b = g.conv(y, 16, 32, 1, "b2/expand", act="relu6")
    b = g.dwconv(b, 32, 3, "b2/dw", stride=2, act="relu6")  # 4x4
    y = g.conv(b, 32, 16, 1, "b2/project")
    # bneck 3: expand + HSwish, depthwise 5x5 + HSwish, SE (HardSigmoid), projection, residual.
    b = g.conv(y, 16, 40, 1, "b3/expand", act="hswish")
    b = g.dwconv(b, 40, 5, "b3/dw", act="hswish")
    b = se(b, 40, 16, "b3/se", "hardsigmoid")
    b = g.conv(b, 40, 16, 1, "b3/project")
    y = op1.add(y, b, name="b3/add")
    y = g.conv(y, 16, 48, 1, "last/conv", act="hswish")
    y = reduce_mean(y, [2, 3], True, "pool")
    y = g.conv(y, 48, 32, 1, "classifier/conv", act="hswish")
    y = reshape(y, [1, 32], "flatten")
    y = g.linear(y, 32, 10, "classifier/fc")
    model = make_model({"logits": y}, [x], "mobilenet_v3")

    rng = np.random.default_rng(seed + 1000)
    n = 32
    pixels = natural_images(rng, n, 3, 16, 16)
    mean = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    data = (pixels - mean) / std
    return (
        model,
        {"image": data.astype(F32)},
        {
            "description": "MobileNetV3-style: stem conv + HSwish; bneck1 depthwise + ReLU, SE "
            "(ReduceMean, 1x1 conv, ReLU, 1x1 conv, HSigmoid, Multiply), linear "
            "projection, residual Add; bneck2 expand + ReLU6 (Clamp), stride-2 "
            "depthwise + ReLU6, projection; bneck3 expand + HSwish, depthwise 5x5 + "
            "HSwish, SE with HardSigmoid, projection, residual Add; 1x1 conv + HSwish, "
            "ReduceMean, 1x1 conv classifier + HSwish, Reshape, MatMul",
            "calibration_description": "ImageNet-normalised pixels (sigmoid of smooth noise, saturated "
            "blobs, under-exposed frames): signed, per-channel offsets",
        },
    )


def build_bert_encoder(seed):
    """Two post-LN BERT encoder layers with an additive attention mask and a pooler."""
    g = GraphBuilder(seed)
    seq, hid, heads = 16, 32, 2
    hd = hid // heads
    x = make_input("tokens", [1, seq, hid])
    mask = make_input("attention_mask", [1, seq])
    # Extended mask: (1 - mask) * -10000, broadcast as [1, 1, 1, T].
    ext = unsqueeze(mask, [1, 2], "mask/unsqueeze")
    ext = op1.subtract(fconst([1.0], "mask/one"), ext, name="mask/invert")
    ext = op1.multiply(ext, fconst([-10000.0], "mask/neg_inf"), name="mask/bias")

    def split_heads(t, name):
        t = reshape(t, [1, seq, heads, hd], f"{name}/reshape")
        return transpose(t, [0, 2, 1, 3], f"{name}/transpose")

    h = x
    for layer, gelu in ((0, "gelu"), (1, "gelu_tanh")):
        p = f"layer{layer}"
        q = split_heads(g.linear(h, hid, hid, f"{p}/attn/query", init="xavier"), f"{p}/attn/q")
        k = split_heads(g.linear(h, hid, hid, f"{p}/attn/key", init="xavier"), f"{p}/attn/k")
        v = split_heads(g.linear(h, hid, hid, f"{p}/attn/value", init="xavier"), f"{p}/attn/v")
        s = op1.matmul(q, k, False, True, name=f"{p}/attn/qk")
        s = op1.divide(s, fconst([np.sqrt(hd)], f"{p}/attn/sqrt_d"), name=f"{p}/attn/scale")
        s = op1.add(s, ext, name=f"{p}/attn/mask_add")
        s = op1.softmax(s, 3, name=f"{p}/attn/softmax")
        c = op1.matmul(s, v, False, False, name=f"{p}/attn/pv")
        c = reshape(
            transpose(c, [0, 2, 1, 3], f"{p}/attn/merge_transpose"),
            [1, seq, hid],
            f"{p}/attn/merge_reshape",
        )
        o = g.linear(c, hid, hid, f"{p}/attn/output", init="xavier")
        h = g.layer_norm(op1.add(o, h, name=f"{p}/attn/residual"), hid, f"{p}/attn/ln", 2, 1e-12)
        f = g.linear(h, hid, 2 * hid, f"{p}/ffn/intermediate", init="xavier", act=gelu)
        f = g.linear(f, 2 * hid, hid, f"{p}/ffn/output", init="xavier")
        h = g.layer_norm(op1.add(f, h, name=f"{p}/ffn/residual"), hid, f"{p}/ffn/ln", 2, 1e-12)
    cls = gather(h, 0, 1, "pooler/cls_token")  # [1, C]
    pooled = g.linear(cls, hid, hid, "pooler/dense", init="xavier", act="tanh")
    logits = g.linear(pooled, hid, 3, "classifier", init="xavier")
    model = make_model({"last_hidden_state": h, "logits": logits}, [x, mask], "bert_encoder")

    rng = np.random.default_rng(seed + 1000)
    n = 48
    pos = np.arange(seq)[:, None] / np.power(50.0, np.arange(hid)[None, :] / hid)
    data = 0.6 * rng.standard_normal((n, seq, hid)) + 0.4 * np.sin(pos)[None]
    data[:, 0, :] += 0.8 * rng.standard_normal(hid)  # [CLS] embedding
    outlier = rng.random(n) < 0.35
    data[:, :, 5] += np.where(outlier[:, None], rng.uniform(6, 14, (n, 1)), 0.0)
    data[:, :, 21] -= np.where(outlier[:, None], rng.uniform(3, 8, (n, 1)), 0.0)
    lengths = rng.integers(5, seq + 1, n)
    lengths[:4] = seq
    mask_v = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.float64)
    data = np.where(mask_v[:, :, None] > 0, data, 0.1 * data)  # padding embeddings
    return (
        model,
        {"tokens": data.astype(F32), "attention_mask": mask_v.astype(F32)},
        {
            "description": "2 post-LN BERT layers (2 heads): separate Q/K/V MatMul+bias, head Reshape/"
            "Transpose, MatMul(q,k^T), Divide by sqrt(d), additive mask from a second "
            "input ((1-mask)*-10000 via Unsqueeze/Subtract/Multiply), Softmax, "
            "MatMul(attn,v), output MatMul, residual Add + MVN LayerNorm (eps 1e-12), "
            "FFN with erf GELU (layer 0) / tanh GELU (layer 1); pooler Gather of token 0 "
            "+ MatMul + Tanh, classifier MatMul; two outputs",
            "calibration_description": "tokens: 0.6*N(0,1) + positional sinusoid, [CLS] offset, in 35% "
            "of samples feature 5 +[6,14] and feature 21 -[3,8]; attention_mask: 1 for "
            "the first L in [5,16] tokens, 0 after (padding tokens scaled by 0.1)",
        },
    )


def build_lstm_state(seed):
    """Silero-VAD-like: audio chunk -> Conv1d front end -> LSTMSequence with a [2,1,H] state."""
    g = GraphBuilder(seed)
    samples, hidden, t = 64, 16, 16
    audio = make_input("input", [1, samples])
    state = make_input("state", [2, 1, hidden])
    y = reshape(audio, [1, 1, samples], "frontend/reshape")
    y = g.conv(y, 1, 8, 8, "frontend/conv1", stride=4, pad=2, act="relu", dims=1)  # [1,8,16]
    y = g.conv(y, 8, 8, 3, "frontend/conv2", act="relu", dims=1)
    xs = transpose(y, [0, 2, 1], "lstm/x")  # [1, T, F]
    h0 = unsqueeze(gather(state, 0, 0, "lstm/h0_gather"), [1], "lstm/h0")  # [1,1,H]
    c0 = op1.split(state, iconst(0, "lstm/state_split/axis"), 2, name="lstm/state_split")
    w = (g.rng.uniform(-1, 1, (1, 4 * hidden, 8)) / np.sqrt(hidden)).astype(F32)
    r = (g.rng.uniform(-1, 1, (1, 4 * hidden, hidden)) / np.sqrt(hidden)).astype(F32)
    b = g.normal((1, 4 * hidden), 0.1)
    lstm = op5.lstm_sequence(
        xs,
        h0,
        c0.output(1),
        iconst([t], "lstm/seq_len", np.int32),
        fconst(w, "lstm/W"),
        fconst(r, "lstm/R"),
        fconst(b, "lstm/B"),
        hidden,
        "forward",
        name="lstm",
    )
    out = squeeze(lstm.output(0), [1], "decoder/squeeze")  # [1, T, H]
    out = op1.relu(transpose(out, [0, 2, 1], "decoder/transpose"), name="decoder/relu")
    out = g.conv(out, hidden, 1, 1, "decoder/conv", act="sigmoid", dims=1)  # [1,1,T]
    prob = reduce_mean(out, [2], False, "prob")  # [1, 1]
    new_state = op1.concat([lstm.output(1), lstm.output(2)], 0, name="state_out")  # [2,1,H]
    model = make_model({"output": prob, "stateN": new_state}, [audio, state], "lstm_state")

    rng = np.random.default_rng(seed + 1000)
    n = 64
    tt = np.arange(samples)[None, :]
    f0 = rng.uniform(0.05, 0.4, (n, 1))
    speech = rng.random((n, 1)) < 0.6
    env = 0.5 + 0.5 * np.sin(
        2 * np.pi * rng.uniform(0.005, 0.03, (n, 1)) * tt + rng.uniform(0, 6.3, (n, 1))
    )
    voiced = env * (np.sin(2 * np.pi * f0 * tt) + 0.4 * np.sin(4 * np.pi * f0 * tt + 1.0))
    amp = rng.lognormal(-1.5, 0.8, (n, 1))
    noise = rng.laplace(0.0, 0.01, (n, samples))
    wav = np.where(speech, amp * voiced, 0.0) + noise
    wav = np.clip(add_outliers(rng, wav, 0.003, 0.5, 1.0), -1.0, 1.0)  # clicks
    st = recurrent_state(rng, n, 2, hidden, ("h", "c"))  # [N, 2, 1, H]
    return (
        model,
        {"input": wav.astype(F32), "state": st.astype(F32)},
        {
            "description": "Silero-VAD-like: audio chunk [1,64] -> Reshape -> Conv1d (stride 4) + ReLU "
            "-> Conv1d + ReLU -> Transpose -> LSTMSequence (H=16) with h0 = Unsqueeze("
            "Gather(state, 0)) and c0 = Split(state)[1] from the non-batch-first state "
            "input [2,1,H]; decoder Squeeze/Transpose, ReLU, Conv1d 1x1 + Sigmoid, "
            "ReduceMean -> output [1,1]; new state Concat(Ho, Co) -> stateN [2,1,H]",
            "calibration_description": "input: 60% voiced (AM harmonic tones, lognormal amplitude) vs "
            "silence, Laplace noise, 0.3% clicks, clipped to [-1,1]; state: h = tanh("
            "N(0,1.2)), c = Laplace(0.8)*U(0.5,2), 20% all-zero initial states",
        },
    )


def build_gru_state(seed):
    """Feature sequence -> MatMul -> GRUSequence (linear_before_reset) with a [1,1,H] state."""
    g = GraphBuilder(seed)
    t, feat, hidden = 12, 8, 16
    xin = make_input("input", [1, t, feat])
    state = make_input("state", [1, 1, hidden])
    y = g.linear(xin, feat, 16, "encoder/fc", act="relu")
    h0 = transpose(state, [1, 0, 2], "gru/h0")  # [B, dirs, H]
    w = (g.rng.uniform(-1, 1, (1, 3 * hidden, 16)) / np.sqrt(hidden)).astype(F32)
    r = (g.rng.uniform(-1, 1, (1, 3 * hidden, hidden)) / np.sqrt(hidden)).astype(F32)
    b = g.normal((1, 4 * hidden), 0.1)
    gru = op5.gru_sequence(
        y,
        h0,
        iconst([t], "gru/seq_len", np.int32),
        fconst(w, "gru/W"),
        fconst(r, "gru/R"),
        fconst(b, "gru/B"),
        hidden,
        "forward",
        linear_before_reset=True,
        name="gru",
    )
    out = reshape(gru.output(0), [1, t, hidden], "decoder/reshape")
    logits = g.linear(out, hidden, 5, "decoder/fc")
    new_state = transpose(gru.output(1), [1, 0, 2], "state_out")
    model = make_model({"logits": logits, "stateN": new_state}, [xin, state], "gru_state")

    rng = np.random.default_rng(seed + 1000)
    n = 64
    # log-mel-like features: per-sample gain, per-band means, heavy upper tail, silence frames
    gain = rng.normal(0.0, 1.0, (n, 1, 1))
    band = np.linspace(1.0, -1.0, feat)[None, None, :]
    feats = gain + band + rng.gumbel(0.0, 0.7, (n, t, feat))
    silent = rng.random((n, t, 1)) < 0.15
    feats = np.where(silent, -4.0 + 0.1 * rng.standard_normal((n, t, feat)), feats)
    st = recurrent_state(rng, n, 1, hidden, ("h",))  # [N, 1, 1, H]
    return (
        model,
        {"input": feats.astype(F32), "state": st.astype(F32)},
        {
            "description": "MatMul+ReLU encoder on [1,12,8] features, GRUSequence (H=16, "
            "linear_before_reset) with h0 = Transpose of the non-batch-first state "
            "input [1,1,H], Reshape + MatMul decoder -> logits [1,12,5]; new state "
            "Transpose(Ho) -> stateN [1,1,H]",
            "calibration_description": "input: log-mel-like (per-sample gain + band slope + Gumbel "
            "tails), 15% silent frames at -4; state: tanh(N(0,1.2)), 20% all-zero",
        },
    )


def build_unet_fpn(seed):
    """U-Net encoder/decoder with an FPN lateral Add, bilinear upsampling and Concat skips."""
    g = GraphBuilder(seed)
    x = make_input("image", [1, 3, 16, 16])
    e1 = g.conv(x, 3, 8, 3, "enc1/conv1", act="relu")
    e1 = g.conv(e1, 8, 8, 3, "enc1/conv2", act="relu")  # 16x16 skip
    y = max_pool(e1, [2, 2], [2, 2], [0, 0], "enc1/pool")
    e2 = g.conv(y, 8, 16, 3, "enc2/conv1", act="relu")
    e2 = g.conv(e2, 16, 16, 3, "enc2/conv2", act="relu")  # 8x8 skip
    y = max_pool(e2, [2, 2], [2, 2], [0, 0], "enc2/pool")
    y = g.conv(y, 16, 32, 3, "bottleneck/conv", act="relu")  # 4x4
    r = g.conv(y, 32, 32, 3, "bottleneck/res1", act="relu")
    r = g.conv(r, 32, 32, 3, "bottleneck/res2")
    y = op1.relu(op1.add(y, r, name="bottleneck/add"), name="bottleneck/relu")
    # FPN-style: lateral 1x1 conv + bilinear x2 upsampling, Add with a 1x1 lateral of the skip.
    top = g.conv(y, 32, 16, 1, "dec2/reduce")
    up = interpolate(top, [8, 8], [2.0, 2.0], "linear_onnx", "dec2/up")
    lat = g.conv(e2, 16, 16, 1, "dec2/lateral")
    y = op1.add(up, lat, name="dec2/add")
    y = g.conv(y, 16, 16, 3, "dec2/conv", act="relu")
    # U-Net-style: bilinear upsampling to the skip size (align_corners), Concat, convs.
    up = interpolate(
        y, [16, 16], [2.0, 2.0], "linear_onnx", "dec1/up", coord="align_corners", calc="sizes"
    )
    y = op1.concat([up, e1], 1, name="dec1/concat")
    y = g.conv(y, 24, 8, 3, "dec1/conv", act="relu")
    y = g.conv(y, 8, 2, 1, "head")
    model = make_model({"mask_logits": y}, [x], "unet_fpn")

    rng = np.random.default_rng(seed + 1000)
    n = 32
    base = smooth_noise(rng, n, 3, 16, 16, 4) + 0.3 * rng.standard_t(3, (n, 3, 16, 16))
    shift = rng.normal(0.0, 0.5, (n, 3, 1, 1))
    data = add_outliers(rng, 0.8 * base + shift, 0.002, 5.0, 9.0)
    return (
        model,
        {"image": data.astype(F32)},
        {
            "description": "U-Net/FPN: encoder conv+ReLU pairs with MaxPool 2x2, bottleneck residual "
            "block (Add + ReLU); decoder 2: 1x1 reduce, bilinear (linear_onnx, "
            "half_pixel, scales) Interpolate x2, Add with a 1x1 lateral conv of the "
            "skip (FPN), conv+ReLU; decoder 1: bilinear Interpolate to the skip size "
            "(align_corners, sizes), Concat skip, conv+ReLU, 1x1 head",
            "calibration_description": "smooth noise + Student-t(3) texture, per-sample channel "
            "offsets, 0.2% +-[5,9] spikes",
        },
    )


def build_conv3d(seed):
    """3D CNN on a short clip (NCDHW): Conv3D + ReLU, 3D MaxPool, residual, GAP, MatMul."""
    g = GraphBuilder(seed)
    x = make_input("clip", [1, 2, 4, 8, 8])
    y = g.conv(x, 2, 8, 3, "conv1", act="relu", dims=3)
    y = max_pool(y, [1, 2, 2], [1, 2, 2], [0, 0, 0], "pool1")  # [1,8,4,4,4]
    y = g.conv(y, 8, 16, 3, "conv2", act="relu", dims=3)
    y = max_pool(y, [2, 2, 2], [2, 2, 2], [0, 0, 0], "pool2")  # [1,16,2,2,2]
    r = g.conv(y, 16, 16, 3, "conv3", dims=3)
    y = op1.relu(op1.add(y, r, name="res_add"), name="res_relu")
    y = reduce_mean(y, [2, 3, 4], False, "gap")  # [1, 16]
    y = g.linear(y, 16, 6, "fc")
    model = make_model({"logits": y}, [x], "conv3d")

    rng = np.random.default_rng(seed + 1000)
    n = 32
    frames = smooth_noise(rng, n * 4, 2, 8, 8, 2).reshape(n, 4, 2, 8, 8).transpose(0, 2, 1, 3, 4)
    motion = np.cumsum(0.3 * rng.standard_normal((n, 2, 4, 1, 1)), axis=2)
    data = frames + motion + 0.2 * rng.laplace(0.0, 1.0, (n, 2, 4, 8, 8))
    data[:, 1] = np.abs(data[:, 1])  # e.g. a flow magnitude
    data = add_outliers(rng, data, 0.001, 6.0, 8.0)
    return (
        model,
        {"clip": data.astype(F32)},
        {
            "description": "3D CNN (NCDHW): Conv3D 3x3x3 + bias + ReLU, MaxPool 1x2x2, Conv3D + ReLU, "
            "MaxPool 2x2x2, linear Conv3D + residual Add + ReLU, global ReduceMean over "
            "D/H/W, MatMul+bias",
            "calibration_description": "smooth per-frame noise + random-walk temporal offsets + Laplace "
            "texture; channel 1 non-negative; 0.1% +-[6,8] spikes",
        },
    )


def build_deconv_decoder(seed):
    """Encoder/decoder with transposed convolutions (ConvolutionBackpropData) and a skip Concat."""
    g = GraphBuilder(seed)
    x = make_input("x", [1, 4, 8, 8])
    e = g.conv(x, 4, 8, 3, "enc/conv1", act="relu")  # 8x8
    y = g.conv(e, 8, 16, 3, "enc/conv2", stride=2, act="relu")  # 4x4
    y = g.deconv(y, 16, 8, 4, 2, 1, "dec/deconv1", act="relu")  # 8x8
    y = op1.concat([y, e], 1, name="dec/concat")
    y = g.deconv(y, 16, 4, 2, 2, 0, "dec/deconv2")  # 16x16
    y = op1.sigmoid(y, name="recon")
    model = make_model({"recon": y}, [x], "deconv_decoder")

    rng = np.random.default_rng(seed + 1000)
    n = 48
    comp = rng.random((n, 1, 1, 1)) < 0.5
    data = np.where(comp, rng.normal(0.3, 0.5, (n, 4, 8, 8)), rng.laplace(-0.5, 1.0, (n, 4, 8, 8)))
    data = add_outliers(rng, data, 0.002, 6.0, 10.0)
    return (
        model,
        {"x": data.astype(F32)},
        {
            "description": "conv+ReLU, stride-2 conv+ReLU, ConvTranspose 4x4 stride 2 (pad 1) + bias + "
            "ReLU, Concat with the encoder skip, ConvTranspose 2x2 stride 2 + bias, "
            "Sigmoid",
            "calibration_description": "per-sample mixture N(0.3,0.5) / Laplace(-0.5,1), 0.2% +-[6,10] "
            "spikes",
        },
    )


def build_aca_depthwise(seed):
    """ActivationChannelAlignment pairs with deliberately uneven producer channel ranges.

    POT's ActivationChannelAlignment (the first step of DefaultQuantization) aligns a
    producer Convolution/GroupConvolution/MatMul (+ bias Add) that feeds a 1x1-style consumer
    Convolution directly (group 1, pads 0, strides 1, dilations 1, the producer output read by
    the consumer only). POT first gives every bias-free Convolution/GroupConvolution a zero
    bias (``<name>/add_``), so the pairs here exercise both bias paths.
    """
    g = GraphBuilder(seed)
    x = make_input("image", [1, 4, 12, 12])

    def uneven(w, b, channels, offsets=()):
        """Scale the output channels ``channels`` of ``w`` [Cout, ...] (and ``b``) by U(10, 50).

        ``offsets`` are further channels whose bias gets +-U(1, 3) (before the gain), so that
        their range is off-centre. Returns (w, b, gain) with ``gain`` [Cout] in float64.
        """
        gain = np.ones(w.shape[0])
        gain[list(channels)] = g.rng.uniform(10.0, 50.0, len(channels))
        w = (w * gain.reshape((-1,) + (1,) * (w.ndim - 1))).astype(F32)
        if b is not None:
            b = b.astype(np.float64).reshape(-1)
            if offsets:
                sign = np.where(g.rng.random(len(offsets)) < 0.5, -1.0, 1.0)
                b[list(offsets)] += sign * g.rng.uniform(1.0, 3.0, len(offsets))
            b = (b * gain).reshape(1, -1, 1, 1).astype(F32)
        return w, b, gain

    def compensate(w, gain):
        """Divide the input channels of consumer weights ``w`` [Cout, Cin, ...] by ``gain``."""
        return (w / gain.reshape((1, -1) + (1,) * (w.ndim - 2))).astype(F32)

    def conv_op(t, w, b, name, groups=1, stride=1, act=None):
        """(Group)Convolution with 'same' padding for odd kernels + optional bias + activation.

        ``w`` is in Convolution layout [Cout, Cin / groups, k, k]; for ``groups`` > 1 it is
        stored as GroupConvolution weights [groups, Cout / groups, Cin / groups, k, k].
        """
        k = w.shape[-1]
        pads = [k // 2, k // 2]
        if groups == 1:
            y = op1.convolution(
                t, fconst(w, f"{name}/weights"), [stride, stride], pads, pads, [1, 1], name=name
            )
        else:
            wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
            y = op1.group_convolution(
                t, fconst(wg, f"{name}/weights"), [stride, stride], pads, pads, [1, 1], name=name
            )
        if b is not None:
            y = op1.add(y, fconst(b, f"{name}/bias"), name=f"{name}/add")
        return g.activation(y, act, name)

    y = g.conv(x, 4, 8, 3, "stem", act="relu")  # 12x12
    # (a) depthwise 3x3 GroupConvolution + bias -> 1x1 Convolution without bias, ReLU.
    w = g.he_normal((8, 1, 3, 3), fan_in=9)
    b = g.normal((1, 8, 1, 1), 0.1)
    w, b, gain = uneven(w, b, [2, 5], offsets=[0, 5])
    y = conv_op(y, w, b, "a/dw", groups=8)
    w = compensate(g.he_normal((16, 8, 1, 1), fan_in=8), gain)
    y = conv_op(y, w, None, "a/pw", act="relu")
    # (b) grouped (2 groups) 3x3 GroupConvolution + bias -> 1x1 Convolution + bias, ReLU.
    w = g.he_normal((16, 8, 3, 3), fan_in=8 * 9)
    b = g.normal((1, 16, 1, 1), 0.1)
    w, b, gain = uneven(w, b, [3, 9, 14], offsets=[1, 9])
    y = conv_op(y, w, b, "b/gconv", groups=2)
    w = compensate(g.he_normal((16, 16, 1, 1), fan_in=16), gain)
    y = conv_op(y, w, g.normal((1, 16, 1, 1), 0.1), "b/pw", act="relu")
    # (c) bias-free 1x1 Convolution -> bias-free 1x1 Convolution, ReLU.
    w, _, gain = uneven(g.he_normal((8, 16, 1, 1), fan_in=16), None, [1, 6])
    y = conv_op(y, w, None, "c/conv1")
    w = compensate(g.he_normal((16, 8, 1, 1), fan_in=8), gain)
    y = conv_op(y, w, None, "c/conv2", act="relu")
    # Not pairs: the consumer is padded (3x3), reads a branching producer, or has stride 2.
    w = g.he_normal((16, 16, 3, 3), fan_in=16 * 9)
    w, b, gain = uneven(w, g.normal((1, 16, 1, 1), 0.1), [4])
    y = conv_op(y, w, b, "d/conv1")
    w = compensate(g.he_normal((8, 16, 3, 3), fan_in=16 * 9), gain)
    y = conv_op(y, w, g.normal((1, 8, 1, 1), 0.1), "d/conv2", act="relu")
    w, b, gain = uneven(g.he_normal((8, 8, 1, 1), fan_in=8), g.normal((1, 8, 1, 1), 0.1), [0])
    e = conv_op(y, w, b, "e/conv")
    w = compensate(g.he_normal((8, 8, 1, 1), fan_in=8), gain)
    left = conv_op(e, w, g.normal((1, 8, 1, 1), 0.1), "e/left")
    right = conv_op(e, compensate(g.he_normal((8, 8, 1, 1), fan_in=8), gain), None, "e/right")
    y = op1.relu(op1.concat([left, right], 1, name="e/concat"), name="e/relu")
    w, b, gain = uneven(g.he_normal((16, 16, 1, 1), fan_in=16), g.normal((1, 16, 1, 1), 0.1), [7])
    y = conv_op(y, w, b, "f/conv1")
    w = compensate(g.he_normal((16, 16, 1, 1), fan_in=16), gain)
    y = conv_op(y, w, g.normal((1, 16, 1, 1), 0.1), "f/conv2", stride=2, act="relu")  # 6x6
    y = reduce_mean(y, [2, 3], False, "gap")  # [1, 16]
    y = g.linear(y, 16, 5, "fc")
    model = make_model({"logits": y}, [x], "aca_depthwise")

    rng = np.random.default_rng(seed + 1000)
    n = 32
    base = smooth_noise(rng, n, 4, 12, 12, 3) + 0.3 * rng.laplace(0.0, 1.0, (n, 4, 12, 12))
    data = rng.uniform(0.5, 2.0, (n, 1, 1, 1)) * base + rng.normal(0.0, 0.5, (n, 4, 1, 1))
    data[:, 3] = np.abs(data[:, 3])  # e.g. a magnitude channel
    data = add_outliers(rng, data, 0.002, 5.0, 9.0)
    return (
        model,
        {"image": data.astype(F32)},
        {
            "description": "ActivationChannelAlignment pairs: conv 3x3 + ReLU stem; (a) depthwise "
            "3x3 GroupConvolution + bias -> 1x1 conv without bias + ReLU; (b) 2-group 3x3 "
            "GroupConvolution + bias -> 1x1 conv + bias + ReLU; (c) bias-free 1x1 conv -> "
            "bias-free 1x1 conv + ReLU; non-pairs: 3x3 conv + bias -> padded 3x3 conv + ReLU, "
            "1x1 conv + bias read by two 1x1 convs (with and without bias) -> Concat + ReLU, "
            "1x1 conv + bias -> stride-2 1x1 conv + ReLU; ReduceMean, MatMul+bias. Producer "
            "output channels scaled by U(10, 50) (a: 2, 5; b: 3, 9, 14; c: 1, 6; d: 4; e: 0; "
            "f: 7; biases scaled alike, a: 0, 5 and b: 1, 9 off-centre by +-U(1, 3)), consumer "
            "input channels divided by the same gains",
            "calibration_description": "smooth noise + Laplace texture, per-sample gain and "
            "channel offsets; channel 3 non-negative; 0.2% +-[5,9] spikes",
        },
    )


#: name -> (builder, seed).  The order is the order of the golden files.
MODELS = {
    "yolo_c2f": (build_yolo_c2f, 1101),
    "svtr_attention": (build_svtr_attention, 1202),
    "mobilenet_v3": (build_mobilenet_v3, 1303),
    "bert_encoder": (build_bert_encoder, 1404),
    "lstm_state": (build_lstm_state, 1505),
    "gru_state": (build_gru_state, 1606),
    "unet_fpn": (build_unet_fpn, 1707),
    "conv3d": (build_conv3d, 1808),
    "deconv_decoder": (build_deconv_decoder, 1909),
    "aca_depthwise": (build_aca_depthwise, 2010),
}


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def _summary(a):
    """Return rounded summary statistics (float64, independent of the NumPy version)."""
    a = a.astype(np.float64)
    return {
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": round(float(a.mean()), 6),
        "std": round(float(a.std()), 6),
    }


def weight_digest(model):
    """SHA-256 over all Constant values in node order (independent of IR formatting)."""
    h = hashlib.sha256()
    n_params = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() == "Constant":
            data = np.ascontiguousarray(node.get_data())
            h.update(node.get_friendly_name().encode())
            h.update(data.tobytes())
            if data.dtype == F32:
                n_params += data.size
    return h.hexdigest(), n_params


def sample_shape(shape, calib):
    """Whether ``calib`` ([N, ...]) is batch-first for an input of static ``shape``."""
    return list(calib.shape[1:]) == list(shape[1:]) and len(calib.shape) == len(shape)


def write_model(name, out_dir):
    """Build model ``name``, write its IR and calibration file, return its manifest entry."""
    builder, seed = MODELS[name]
    model, calib, meta = builder(seed)
    xml = os.path.join(out_dir, f"{name}.xml")
    binf = os.path.join(out_dir, f"{name}.bin")
    npz = os.path.join(out_dir, f"{name}.npz")
    ov.serialize(model, xml, binf)
    np.savez(npz, **calib)

    n_samples = {k: int(v.shape[0]) for k, v in calib.items()}
    assert len(set(n_samples.values())) == 1, "all inputs must have the same sample count"
    wdigest, n_params = weight_digest(model)
    inputs = []
    for p in model.get_parameters():
        shape = [int(d) for d in p.get_output_shape(0)]
        arr = calib[p.get_friendly_name()]
        rec = {"name": p.get_friendly_name(), "shape": shape, "dtype": "float32"}
        if sample_shape(shape, arr):
            rec["sample_layout"] = "batch_first"
        else:
            assert list(arr.shape[1:]) == shape, (name, p.get_friendly_name(), arr.shape)
            rec["sample_layout"] = "whole_input"
        rec["calibration_shape"] = [int(d) for d in arr.shape]
        inputs.append(rec)
    entry = {
        "xml": os.path.basename(xml),
        "bin": os.path.basename(binf),
        "calibration": os.path.basename(npz),
        "seed": seed,
        "num_samples": next(iter(n_samples.values())),
        "inputs": inputs,
        "outputs": [
            {"name": o.get_any_name(), "shape": [int(d) for d in o.get_shape()]}
            for o in model.outputs
        ],
        "num_float_params": n_params,
        "weights_sha256": wdigest,
        "calibration_sha256": {
            k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for k, v in calib.items()
        },
        "calibration_stats": {k: _summary(v) for k, v in calib.items()},
    }
    entry.update(meta)
    return entry


def _ov_version():
    return ov.__version__ if hasattr(ov, "__version__") else ov.get_version()


def sample_feed(entry, data, i):
    """Return the inputs of sample ``i`` shaped as the model inputs (either sample layout)."""
    feed = {}
    for inp in entry["inputs"]:
        arr = data[inp["name"]]
        feed[inp["name"]] = np.ascontiguousarray(arr[i].reshape(inp["shape"]))
    return feed


def check(zoo_dir, save_outputs=None):
    """Load, compile and run every model of ``zoo_dir`` in FP32 on all its samples."""
    with open(os.path.join(zoo_dir, "manifest.json")) as f:
        manifest = json.load(f)
    core = ov.Core()
    print(f"OpenVINO {_ov_version()}")
    failures, saved = 0, {}
    for name, entry in manifest["models"].items():
        try:
            model = core.read_model(
                os.path.join(zoo_dir, entry["xml"]), os.path.join(zoo_dir, entry["bin"])
            )
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            request = compiled.create_infer_request()
            with np.load(os.path.join(zoo_dir, entry["calibration"])) as f:
                data = {k: f[k] for k in f.files}
            outs = {o.get_any_name(): [] for o in compiled.outputs}
            for i in range(entry["num_samples"]):
                res = request.infer(sample_feed(entry, data, i))
                for o in compiled.outputs:
                    outs[o.get_any_name()].append(np.array(res[o]))
        except Exception as exc:  # noqa: BLE001 -- report and continue with the next model
            failures += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
            continue
        for out_name, values in outs.items():
            value = np.stack(values)
            finite = bool(np.all(np.isfinite(value)))
            failures += not finite
            saved[f"{name}/{out_name}"] = value
            print(
                f"{'ok  ' if finite else 'FAIL'} {name:16s} {out_name:18s} "
                f"shape={list(value.shape[1:])} mean={value.mean():+.5f} std={value.std():.5f}"
            )
    if save_outputs:
        np.savez(save_outputs, **saved)
    return 1 if failures else 0


def compare(path_a, path_b):
    """Print the largest difference per output between two ``--save-outputs`` files."""
    with np.load(path_a) as fa, np.load(path_b) as fb:
        keys = sorted(set(fa.files) | set(fb.files))
        worst = 0.0
        for k in keys:
            if k not in fa.files or k not in fb.files:
                print(f"missing {k}")
                worst = np.inf
                continue
            d = float(np.max(np.abs(fa[k].astype(np.float64) - fb[k])))
            scale = float(np.max(np.abs(fa[k])))
            worst = max(worst, d / max(1.0, scale))
            print(f"{k:40s} max|diff|={d:.3e} (max|value|={scale:.3g})")
    print(f"largest difference relative to max(1, max|value|): {worst:.3e}")
    return 0 if worst <= 1e-5 else 1


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "output_dir",
        nargs="?",
        default=DEFAULT_OUT,
        help="directory to write the zoo into (default: %(default)s)",
    )
    parser.add_argument("--only", nargs="+", choices=list(MODELS), help="build only these models")
    parser.add_argument("--list", action="store_true", help="list model names and exit")
    parser.add_argument(
        "--check", action="store_true", help="run the models of output_dir instead of building them"
    )
    parser.add_argument("--save-outputs", metavar="FILE.npz", help="with --check: save outputs")
    parser.add_argument("--compare", nargs=2, metavar="NPZ", help="compare two saved outputs")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(MODELS))
        return 0
    if args.compare:
        return compare(*args.compare)
    if args.check:
        return check(args.output_dir, args.save_outputs)

    os.makedirs(args.output_dir, exist_ok=True)
    names = args.only or list(MODELS)
    manifest_path = os.path.join(args.output_dir, "manifest.json")
    manifest = {"zoo_version": ZOO_VERSION, "models": {}}
    if args.only and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    manifest["generated_with"] = {
        "openvino": _ov_version(),
        "numpy": np.__version__,
        "script": "tools/make_pattern_models.py",
    }
    for name in names:
        manifest["models"][name] = write_model(name, args.output_dir)
        e = manifest["models"][name]
        print(
            f"{name:16s} params={e['num_float_params']:6d} samples={e['num_samples']:3d} "
            f"inputs={[(i['name'], i['shape']) for i in e['inputs']]}"
        )
    manifest["models"] = {k: manifest["models"][k] for k in MODELS if k in manifest["models"]}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
