"""Softmax followed by cross-entropy, numerically stable, as torch.nn.CrossEntropyLoss."""

import numpy as np


def softmax(scores):
    """Row-wise softmax of scores (N, classes), shifted by the row max for stability."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(scores) against integer labels.

    With class weights w and label smoothing e (PyTorch's definitions), the
    target of sample i is ``t_i = (1-e) onehot(y_i) + e/classes``, each class
    c counts ``w_c``, and the mean divides by ``sum_i w_{y_i}``::

        loss = sum_i sum_c w_c t_ic (-log p_ic) / sum_i w_{y_i}

    Without weights or smoothing this is the lecture's -mean(log p_{y_i}).
    ``forward(scores, labels)`` returns the loss; ``backward()`` returns
    dL/dscores (N, classes).
    """

    def __init__(self, class_weights=None, label_smoothing=0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if class_weights is not None:
            class_weights = np.asarray(class_weights, dtype=np.float64)
            if class_weights.ndim != 1 or np.any(class_weights < 0) or not np.all(np.isfinite(class_weights)):
                raise ValueError("class_weights must be a 1-D array of finite non-negative numbers")
        self.class_weights = class_weights
        self.label_smoothing = float(label_smoothing)

    def _weights(self, n_classes):
        weights = np.ones(n_classes) if self.class_weights is None else self.class_weights
        if weights.shape != (n_classes,):
            raise ValueError(f"class_weights has {weights.shape[0]} entries but scores have {n_classes} classes")
        return weights

    def normaliser(self, labels, n_classes):
        """The mean's denominator sum_i w_{y_i} for integer labels (N,): N without class weights."""
        return self._weights(n_classes)[labels].sum()

    def _targets(self, labels, n_classes, dtype):
        """Weighted targets (N, classes) and the normaliser sum_i w_{y_i}."""
        weights = self._weights(n_classes)
        targets = np.full((labels.shape[0], n_classes), self.label_smoothing / n_classes)
        targets[np.arange(labels.shape[0]), labels] += 1.0 - self.label_smoothing
        targets *= weights
        return targets.astype(dtype), self.normaliser(labels, n_classes)

    def forward(self, scores, labels):
        scores = np.asarray(scores)
        labels = np.asarray(labels)
        if scores.ndim != 2:
            raise ValueError(f"scores must be 2-D (N, classes), got shape {scores.shape}")
        if labels.shape != (scores.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be integers of shape ({scores.shape[0]},), got {labels.dtype} {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
            raise ValueError(f"labels must lie in [0, {scores.shape[1]}), got {labels.min()}..{labels.max()}")
        targets, norm = self._targets(labels, scores.shape[1], scores.dtype)
        log_p = log_softmax(scores)
        self._cache = (np.exp(log_p), targets, norm)
        return float(-(targets * log_p).sum() / norm)

    __call__ = forward

    def backward(self):
        """dL/dscores = (sum_c t_ic) p_i - t_i, divided by the normaliser."""
        p, targets, norm = self._cache
        return ((targets.sum(axis=1, keepdims=True) * p - targets) / norm).astype(p.dtype)
