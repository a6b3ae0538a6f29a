"""pytorch-grad-cam's targets: what to explain. shadercam reads `category` from them."""

import numpy as np


class ClassifierOutputTarget:
    """The logit of class `category` (pytorch-grad-cam's default target)."""

    def __init__(self, category: int):
        self.category = category

    def __call__(self, model_output):
        if len(model_output.shape) == 1:
            return model_output[self.category]
        return model_output[:, self.category]


class ClassifierOutputSoftmaxTarget:
    """The softmax score of class `category`. Not computed by shadercam's maps yet: a CAM call
    with it raises NotImplementedError."""

    def __init__(self, category: int):
        self.category = category

    def __call__(self, model_output):
        x = np.asarray(model_output, dtype=np.float64)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
        return p[..., self.category]
