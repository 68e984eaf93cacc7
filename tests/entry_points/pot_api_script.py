"""A user script written for POT (spec Appendix A + a Metric, compression and saving).

Run as ``python pot_api_script.py MODEL.xml MODEL.bin DATA.npz OUTPUT_DIR``; prints one JSON
line with the metrics and the saved paths. Nothing in it mentions fastpot.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import openvino as ov
from openvino.tools.pot import (
    DataLoader,
    IEEngine,
    Metric,
    compress_model_weights,
    create_pipeline,
    load_model,
    save_model,
)
from openvino.tools.pot.utils.logger import get_logger, init_logger

init_logger(level="INFO")
logger = get_logger(__name__)

xml, weights, npz, output_dir = sys.argv[1:5]
with np.load(npz) as archive:
    data = {name: archive[name] for name in archive.files}
names = list(data)
count = len(data[names[0]])


def sample(i):
    if len(names) == 1:
        return data[names[0]][i : i + 1]
    return {name: data[name][i : i + 1] for name in names}


# Labels: the FP32 model's own top-1 classes, so the metric measures agreement with FP32.
reference = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
labels = [int(np.argmax(reference(sample(i))[0])) for i in range(count)]


class Calib(DataLoader):
    def __init__(self, n):  # POT's base __init__ wants a config; skipping it is fine
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return sample(i), labels[i]  # (data, annotation) - must be a tuple


class Top1(Metric):
    def __init__(self):
        super().__init__()
        self._name = "top1"

    @property
    def value(self):
        return {self._name: self._last}

    @property
    def avg_value(self):
        return {self._name: float(np.mean(self._all)) if self._all else 0.0}

    def update(self, output, target):
        predicted = np.argmax(output[0].reshape(len(target), -1), axis=1)
        self._last = [float(p == t) for p, t in zip(predicted, target, strict=True)]
        self._all.extend(self._last)

    def reset(self):
        self._last, self._all = [], []

    def get_attributes(self):
        return {self._name: {"direction": "higher-better", "type": "accuracy"}}


model = load_model({"model_name": "net", "model": xml, "weights": weights})
engine = IEEngine(
    {"device": "CPU", "stat_requests_number": 1}, data_loader=Calib(count), metric=Top1()
)
pipeline = create_pipeline(
    [
        {
            "name": "DefaultQuantization",
            "params": {"target_device": "CPU", "preset": "performance", "stat_subset_size": 300},
        }
    ],
    engine,
)
fp32_metrics = pipeline.evaluate(model)
qmodel = pipeline.run(model)
compress_model_weights(qmodel)
int8_metrics = pipeline.evaluate(qmodel)
paths = save_model(qmodel, output_dir, model_name="net_int8")
logger.info("saved %s", paths)
print(json.dumps({"fp32": fp32_metrics, "int8": int8_metrics, "paths": paths}))
