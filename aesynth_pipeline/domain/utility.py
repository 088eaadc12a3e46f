"""How useful a synthetic dataset is for training a model, against the real training data.

Each task trains the same gradient-boosted classifier on the synthetic data and on the real
training data and scores both on the real hold-out: the ratio says how much of the real
data's usefulness the synthetic data keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, roc_auc_score
from threadpoolctl import threadpool_limits

from aesynth_pipeline.columns import AGE_BRACKET, DEIDENTIFIED_COLUMNS, TIME_IN_AE
from aesynth_pipeline.domain.encoding import sample_rows
from aesynth_pipeline.domain.metrics import metric_row

# The classifiers train on at most this many records and are scored on at most this many
# hold-out records: the default run's 7,918 and 1,980 are all used. Above it, each of the
# four trainings (real and three modes) took 2-3 s at 50,000 (a million-row run), against
# 0.5-1 s at 10,000, where the real-trained macro F1 was 0.012 lower and the synthetic over
# real ratios moved by less than their spread over five seeds (README).
CLASSIFIER_SAMPLE_ROWS = 10_000
# Below this many training records the classifiers run on one OpenMP thread: their trees'
# histograms are then so small that the threads' barriers cost more than they save, and far
# more when another process shares the cores (2.4–3.1× slower beside one busy process on 2
# cores, at 7,918 records); at 50,000 records, alone, one thread is 0.76× as fast
# (benchmarks/classifier_threads_benchmark.py). Samples no larger than
# `CLASSIFIER_SAMPLE_ROWS` all fall below it. The figures do not depend on the threads.
ONE_THREAD_BELOW_ROWS = 20_000


def _encode(frames: Sequence[pd.DataFrame], features: list[str]) -> list[np.ndarray]:
    """Integer codes per categorical feature, from one vocabulary shared by all frames."""
    encoded = [np.empty((len(f), len(features))) for f in frames]
    for j, feature in enumerate(features):
        if feature == TIME_IN_AE:
            for matrix, frame in zip(encoded, frames, strict=True):
                matrix[:, j] = frame[feature].to_numpy(dtype=float)
            continue
        vocabulary = sorted(set().union(*(frame[feature].astype(str) for frame in frames)))
        for matrix, frame in zip(encoded, frames, strict=True):
            matrix[:, j] = pd.Categorical(frame[feature].astype(str), categories=vocabulary).codes
    return encoded


def _classifier(features: list[str], seed: int) -> HistGradientBoostingClassifier:
    categorical = [feature != TIME_IN_AE for feature in features]
    # Early stopping at every size (scikit-learn's default turns it on above 10,000 training
    # records only: 10% held out for validation, 10 rounds without improvement), and trees
    # of at most 15 leaves rather than 31: together 5 times faster on the default run's
    # 7,918 records. Their effect on the scores over 8 seeds is in the README.
    return HistGradientBoostingClassifier(
        categorical_features=categorical,
        max_iter=100,
        max_leaf_nodes=15,
        early_stopping=True,
        random_state=seed,
    )


def age_bracket_f1(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> float:
    features = [c for c in DEIDENTIFIED_COLUMNS if c != AGE_BRACKET]
    x_train, x_test = _encode([train, test], features)
    model = _classifier(features, seed).fit(x_train, train[AGE_BRACKET].astype(str))
    return float(f1_score(test[AGE_BRACKET].astype(str), model.predict(x_test), average="macro"))


def long_stay_auc(train: pd.DataFrame, test: pd.DataFrame, threshold: float, seed: int) -> float:
    features = [c for c in DEIDENTIFIED_COLUMNS if c != TIME_IN_AE]
    target = train[TIME_IN_AE] > threshold
    if target.nunique() < 2:
        return 0.5  # a model that has only seen one outcome cannot rank: no better than chance
    x_train, x_test = _encode([train, test], features)
    model = _classifier(features, seed).fit(x_train, target)
    return float(roc_auc_score(test[TIME_IN_AE] > threshold, model.predict_proba(x_test)[:, 1]))


@dataclass(frozen=True)
class UtilityScores:
    age_bracket_f1: float
    long_stay_auc: float


@dataclass(frozen=True)
class UtilityReference:
    """The hold-out sample every model is scored on, and the real-trained scores."""

    test: pd.DataFrame
    long_stay_threshold: float
    seed: int
    real: UtilityScores


def utility_scores(
    train: pd.DataFrame, test: pd.DataFrame, threshold: float, seed: int
) -> UtilityScores:
    threads = 1 if len(train) < ONE_THREAD_BELOW_ROWS else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        return UtilityScores(
            age_bracket_f1=age_bracket_f1(train, test, seed),
            long_stay_auc=long_stay_auc(train, test, threshold, seed),
        )


def utility_reference(
    training: pd.DataFrame, holdout: pd.DataFrame, seed: int, rng: np.random.Generator
) -> UtilityReference:
    test = sample_rows(holdout, CLASSIFIER_SAMPLE_ROWS, rng)
    threshold = float(training[TIME_IN_AE].median())
    real = utility_scores(sample_rows(training, CLASSIFIER_SAMPLE_ROWS, rng), test, threshold, seed)
    return UtilityReference(test=test, long_stay_threshold=threshold, seed=seed, real=real)


def utility_rows(
    mode: str, reference: UtilityReference, synthetic: pd.DataFrame, rng: np.random.Generator
) -> list[dict]:
    """Classifiers trained on (a sample of) the synthetic data, beside the real-trained ones."""
    scores = utility_scores(
        sample_rows(synthetic, CLASSIFIER_SAMPLE_ROWS, rng),
        reference.test,
        reference.long_stay_threshold,
        reference.seed,
    )
    f1, real_f1 = scores.age_bracket_f1, reference.real.age_bracket_f1
    auc, real_auc = scores.long_stay_auc, reference.real.long_stay_auc
    return [
        metric_row(mode, "age_bracket_macro_f1", f1, AGE_BRACKET, reference=real_f1),
        metric_row(mode, "age_bracket_macro_f1_ratio", f1 / real_f1, AGE_BRACKET, reference=1.0),
        metric_row(mode, "long_stay_roc_auc", auc, TIME_IN_AE, reference=real_auc),
        metric_row(mode, "long_stay_roc_auc_ratio", auc / real_auc, TIME_IN_AE, reference=1.0),
        metric_row(mode, "classifier_sample", min(len(synthetic), CLASSIFIER_SAMPLE_ROWS),
                   reference=len(reference.test)),
    ]  # fmt: skip
