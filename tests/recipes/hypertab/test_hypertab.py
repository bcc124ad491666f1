"""HyperTabClassifier: scikit-learn integration, input errors, reproducibility, and the batched per-mask path."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hypernet as hn
from hypernet.recipes.hypertab import HyperTabClassifier
from hypernet.recipes.hypertab.classifier import torch_threads


def small(**kw: object) -> HyperTabClassifier:
    params: dict[str, object] = dict(
        n_members=6, hidden=(16,), epochs=12, lr=1e-2, batch_size=32, cond_dim=16, hyper_hidden=32, random_state=0
    )
    params.update(kw)
    return HyperTabClassifier(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=120, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(data: tuple[np.ndarray, np.ndarray]) -> HyperTabClassifier:
    return small().fit(*data)


def test_learns_iris() -> None:
    X, y = load_iris(return_X_y=True)
    clf = small(epochs=15).fit(X, y)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    assert clf.n_iter_ == 15 and clf.n_steps_ == 15 * 5 and len(clf.loss_curve_) == clf.n_steps_
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]


def test_masks_cover_features_evenly(fitted: HyperTabClassifier) -> None:
    masks = fitted.masks_
    assert masks.shape == (6, 8) and set(np.unique(masks)) == {0.0, 1.0}
    assert (masks.sum(1) == 4).all()  # subset_size=None: half the features
    usage = masks.sum(0)
    assert usage.max() - usage.min() <= 1
    np.testing.assert_array_equal(fitted.subsets_, np.stack([np.flatnonzero(m) for m in masks]))


@pytest.mark.parametrize(("subset_size", "k"), [(0.25, 2), (3, 3), (1.0, 8), (1, 1)])
def test_subset_size(data: tuple[np.ndarray, np.ndarray], subset_size: float, k: int) -> None:
    clf = small(subset_size=subset_size, epochs=1).fit(*data)
    assert clf.subsets_.shape == (6, k)


def test_all_members_generated_in_one_batched_call(data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each training step and each prediction generates all U member weight sets in one generator call."""
    clf = small(epochs=1)
    seen: list[int] = []
    original = hn.HyperModel._flat

    def spy(self: hn.HyperModel, split: object) -> torch.Tensor:
        out = original(self, split)  # type: ignore[arg-type]
        seen.append(out.shape[0])
        return out

    monkeypatch.setattr(hn.HyperModel, "_flat", spy)
    clf.fit(*data)
    assert seen == [6] * clf.n_steps_
    seen.clear()
    clf.predict(data[0])
    assert seen == [6]


def test_members_are_plain_mlps_over_their_features(fitted: HyperTabClassifier, data: tuple[np.ndarray, np.ndarray]) -> None:
    """Member j's output equals the materialized plain MLP applied to the standardised columns of subset j."""
    X = data[0][:10]
    members = fitted.member_predict_proba(X)
    assert members.shape == (6, 10, 3)
    np.testing.assert_allclose(members.mean(0), fitted.predict_proba(X), atol=1e-6)
    xs = torch.as_tensor((X - fitted.mean_) / fitted.scale_, dtype=torch.float32)
    for j in (0, 5):
        net = fitted.model_.materialize(torch.as_tensor(fitted.masks_[j]))
        assert net[0].in_features == 4
        ref = net(xs[:, fitted.subsets_[j]]).softmax(-1).detach().numpy()
        np.testing.assert_allclose(members[j], ref, atol=1e-5)


def test_masks_per_step(data: tuple[np.ndarray, np.ndarray]) -> None:
    clf = small(masks_per_step=2, epochs=3).fit(*data)
    assert clf.predict(data[0]).shape == (120,)


def test_reproducible_with_random_state(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    a = small(random_state=3).fit(X, y).predict_proba(X)
    b = small(random_state=3).fit(X, y).predict_proba(X)
    c = small(random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    rs = np.random.RandomState(7)
    d = small(random_state=rs).fit(X, y).predict_proba(X)
    assert d.shape == a.shape


def test_fit_leaves_global_rng_and_threads_alone(data: tuple[np.ndarray, np.ndarray]) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    small(epochs=1).fit(*data)
    torch.testing.assert_close(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_string_and_int_labels_and_pandas(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    names = np.array(["cat", "dog", "emu"])
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    clf = small().fit(frame, names[y])
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert list(clf.feature_names_in_) == list(frame.columns) and clf.n_features_in_ == 8
    pred = clf.predict(frame)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert clf.score(frame, names[y]) > 0.6
    ints = small().fit(X, y + 10)
    assert list(ints.classes_) == [10, 11, 12] and set(ints.predict(X)) <= {10, 11, 12}


def test_clone_pickle_pipeline_gridsearch(fitted: HyperTabClassifier, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "model_")
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    pipe = make_pipeline(StandardScaler(), small()).fit(X, y)
    assert pipe.score(X, y) > 0.6
    search = GridSearchCV(small(epochs=4), {"n_members": [2, 4], "hidden": [(8,), (16,)]}, cv=2).fit(X, y)
    assert search.best_params_["n_members"] in (2, 4) and hasattr(search.best_estimator_, "model_")


def test_nan_and_inf_name_the_columns(fitted: HyperTabClassifier, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    bad = X.copy()
    bad[3, 2] = np.nan
    bad[4, 2] = np.nan
    bad[5, 6] = np.inf
    with pytest.raises(ValueError, match=r"NaN in column 2 \(2 values\), inf in column 6 \(1 value\)") as info:
        small().fit(bad, y)
    assert isinstance(info.value, hn.HypernetError) and "SimpleImputer" in str(info.value)
    frame = pd.DataFrame(bad, columns=[f"f{i}" for i in range(8)])
    with pytest.raises(ValueError, match=r"NaN in column 'f2'"):
        small().fit(frame, y)
    with pytest.raises(ValueError, match=r"inf in column 6"):
        fitted.predict(bad)
    imputed = make_pipeline(SimpleImputer(), small(epochs=2)).fit(np.where(np.isinf(bad), 0.0, bad), y)
    assert imputed.predict(X).shape == (120,)


def test_too_few_samples_per_class(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    y = y.copy()
    y[0] = 7
    with pytest.raises(ValueError, match=r"at least 2 samples of every class.*class 7 \(1 sample\)"):
        small().fit(X, y)
    with pytest.raises(ValueError, match=r"at least 2 classes.*got 1 class"):
        small().fit(X, np.zeros(len(X)))


def test_not_fitted_is_sklearns_error(data: tuple[np.ndarray, np.ndarray]) -> None:
    for method in ("predict", "predict_proba", "member_predict_proba"):
        with pytest.raises(NotFittedError, match="call fit"):
            getattr(small(), method)(data[0])
    with pytest.raises(hn.HypernetError):
        small().predict(data[0])


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("n_members", 0, "n_members"),
        ("epochs", -1, "epochs"),
        ("lr", 0.0, "lr"),
        ("weight_decay", float("nan"), "weight_decay"),
        ("subset_size", 1.5, "subset_size"),
        ("subset_size", 20, "subset_size"),
        ("hidden", (16, 0), "hidden"),
        ("batch_size", True, "batch_size"),
        ("n_jobs", 0, "n_jobs"),
        ("class_weight", "equal", "class_weight"),
        ("class_weight", {7: 1.0}, "to name labels of y"),
        ("class_weight", {0: -1.0}, ">= 0"),
        ("label_smoothing", -0.1, "label_smoothing"),
        ("label_smoothing", 1.0, "< 1.0"),
        ("label_smoothing", "0.1", "label_smoothing"),
    ],
)
def test_bad_parameters(data: tuple[np.ndarray, np.ndarray], param: str, value: object, match: str) -> None:
    with pytest.raises(hn.ConfigError, match=match):
        small(**{param: value}).fit(*data)


def test_class_weight_moves_the_decision_towards_the_weighted_class() -> None:
    X, y = make_classification(n_samples=300, n_features=6, n_informative=2, weights=[0.85], flip_y=0.1, class_sep=0.5, random_state=1)
    plain = small(epochs=20).fit(X, y)
    balanced = small(epochs=20, class_weight="balanced").fit(X, y)
    heavy = small(epochs=20, class_weight={1: 10.0}).fit(X, y)
    rare = [int((m.predict(X) == 1).sum()) for m in (plain, balanced, heavy)]
    assert rare[0] < rare[1] < rare[2], rare
    dict_equal_to_none = small(epochs=3, class_weight={0: 1.0, 1: 1.0}).fit(X, y)
    np.testing.assert_allclose(dict_equal_to_none.predict_proba(X), small(epochs=3).fit(X, y).predict_proba(X), rtol=1e-5, atol=1e-6)


def test_label_smoothing_tempers_confidence(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    sharp = small(epochs=30).fit(X, y)
    smooth = small(epochs=30, label_smoothing=0.3).fit(X, y)
    top_sharp, top_smooth = (m.predict_proba(X).max(1).mean() for m in (sharp, smooth))
    # the smoothed targets' top probability is 0.8: members stop short of certainty (about 0.55 vs 0.70 here)
    assert top_smooth < top_sharp - 0.08, (top_smooth, top_sharp)
    assert smooth.score(X, y) > 0.8


def test_verbose_shows_progress(data: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]) -> None:
    small(epochs=2, verbose=1).fit(*data)
    err = capsys.readouterr().err
    assert "train" in err and "step" in err and "loss" in err
    small(epochs=2, verbose=0).fit(*data)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_torch_threads_context() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    with torch_threads(None):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before
