"""XGBoost path probe (paper Sec. 3.1 / App. 7.5): can a classifier name the word from its path alone?

Features: the expert id of every space-MoE layer, one-hot encoded with a fixed category set per layer
(0..E-1), so every fold sees the same columns. Stratified k-fold CV; also chance levels and how much the
words' paths overlap.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import LabelEncoder, OneHotEncoder
from xgboost import XGBClassifier

from raphael.run.errors import ConfigError


@dataclass
class ProbeResult:
    accuracy_mean: float
    accuracy_std: float
    fold_accuracies: list[float]
    chance_uniform: float  # 1 / number of words
    chance_majority: float  # share of the most frequent word
    num_words: int
    num_rows: int
    num_layers: int
    distinct_paths: int  # over all rows
    distinct_word_paths: int  # over each word's most frequent path
    words_sharing_a_path: int  # words whose most frequent path is also another word's
    mean_paths_per_word: float  # distinct paths one word takes over its templates
    shuffled_accuracy_mean: float | None = None  # the shuffled-label control (raphael.probe), when run
    shuffled_accuracy_std: float | None = None
    labels: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("confusion", "labels")}


def one_hot_paths(paths: np.ndarray, num_experts: int) -> np.ndarray:
    """(N, n_layers) expert ids -> (N, n_layers * E) one-hot floats."""
    encoder = OneHotEncoder(categories=[list(range(num_experts))] * paths.shape[1], sparse_output=False)
    return encoder.fit_transform(paths).astype(np.float32)


def path_overlap(paths: np.ndarray, words: np.ndarray) -> dict:
    """Distinct paths overall, distinct modal paths, words sharing their modal path, paths per word."""
    as_tuples = [tuple(p) for p in paths.tolist()]
    modal, per_word = {}, []
    for word in dict.fromkeys(words.tolist()):
        mine = [p for p, w in zip(as_tuples, words.tolist()) if w == word]
        modal[word] = Counter(mine).most_common(1)[0][0]
        per_word.append(len(set(mine)))
    owners = Counter(modal.values())
    return {
        "distinct_paths": len(set(as_tuples)),
        "distinct_word_paths": len(owners),
        "words_sharing_a_path": sum(1 for p in modal.values() if owners[p] > 1),
        "mean_paths_per_word": float(np.mean(per_word)),
    }


def make_classifier(seed: int = 0, **params) -> XGBClassifier:
    defaults = {"n_estimators": 100, "max_depth": 4, "learning_rate": 0.3, "tree_method": "hist",
                "n_jobs": 1, "random_state": seed}
    return XGBClassifier(**(defaults | params))


def probe_paths(paths: np.ndarray, words, num_experts: int, folds: int = 5, seed: int = 0,
                xgb_params: dict | None = None) -> ProbeResult:
    """Stratified `folds`-fold CV accuracy of XGBoost predicting the word from its path."""
    paths = np.asarray(paths, dtype=np.int64)
    words = np.asarray(words)
    if paths.ndim != 2 or paths.shape[1] == 0:
        raise ConfigError(f"paths must be (rows, layers) with at least one layer, got shape {paths.shape}.")
    if paths.min() < 0 or paths.max() >= num_experts:
        raise ConfigError(f"expert ids must lie in [0, {num_experts}), got [{paths.min()}, {paths.max()}].")
    labels = LabelEncoder().fit(words)
    y = labels.transform(words)
    per_class = np.bincount(y)
    if per_class.min() < folds:
        raise ConfigError(f"folds={folds} needs at least {folds} prompts per word; the smallest word has "
                          f"{per_class.min()}. Add templates or lower folds.")
    X = one_hot_paths(paths, num_experts)
    predicted = np.empty_like(y)
    accuracies = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        clf = make_classifier(seed, **(xgb_params or {}))
        # a fold may miss no class (stratified, >= folds rows each), so labels stay 0..K-1
        clf.fit(X[train], y[train])
        predicted[test] = clf.predict(X[test])
        accuracies.append(float((predicted[test] == y[test]).mean()))
    return ProbeResult(
        accuracy_mean=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        fold_accuracies=accuracies,
        chance_uniform=1.0 / len(labels.classes_),
        chance_majority=float(per_class.max() / len(y)),
        num_words=len(labels.classes_),
        num_rows=len(y),
        num_layers=paths.shape[1],
        labels=[str(c) for c in labels.classes_],
        confusion=confusion_matrix(y, predicted, labels=range(len(labels.classes_))).tolist(),
        **path_overlap(paths, words),
    )
