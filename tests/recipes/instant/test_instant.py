"""InstantClassifier: invariances, no optimiser in fit, errors, materialize, persistence, meta-training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.instant import ImageEpisodes, SyntheticTabularTasks, conv4
from hypernet.recipes.instant.head import ClassWeightGenerator, run_layers

HEADS = ["prototype", "ridge"]
GENERATORS = [("prototype", False), ("ridge", False), ("ridge", True), ("ridge_prototype", True)]  # (head, PrototypeAttention?)


def blobs(n_classes: int = 3, per_class: int = 8, dim: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=g) * 3
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[y] + torch.randn(len(y), dim, generator=g), y


def trained_generator(head: str, adapt: int | None = None) -> ClassWeightGenerator:
    """A generator with every layer non-zero (a fresh one starts at exact zeros in its output layers)."""
    gen = ClassWeightGenerator(hidden=8, head=head, width=16, adapt=adapt)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return gen


@pytest.mark.parametrize(("head", "adapt"), GENERATORS)
def test_support_order_does_not_matter(head: str, adapt: bool) -> None:
    gen = trained_generator(head, 5 if adapt else None)
    X, y = blobs()
    q = torch.randn(7, 5)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))
    a = run_layers(q, gen(X, y, 3)).softmax(1)
    b = run_layers(q, gen(X[perm], y[perm], 3)).softmax(1)
    assert (a - b).abs().max() < 1e-5  # predicted probabilities


@pytest.mark.parametrize(("head", "adapt"), GENERATORS)
def test_relabelling_the_support_permutes_the_probabilities(head: str, adapt: bool) -> None:
    clf = hn.InstantClassifier(max_classes=4, head=head)
    clf.generator = trained_generator(head, 5 if adapt else None)
    X, y = blobs(n_classes=4)
    q = torch.randn(9, 5) * 3
    relabel = torch.tensor([2, 0, 3, 1])
    p = clf.fit(X, y).predict_proba(q)
    p_relabelled = clf.fit(X, relabel[y]).predict_proba(q)
    np.testing.assert_allclose(p_relabelled[:, relabel.numpy()], p, atol=1e-5)


def test_fit_runs_no_optimiser_and_changes_no_parameter() -> None:
    clf = hn.InstantClassifier(conv4(8), max_classes=5)
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    X, y = torch.rand(10, 1, 28, 28), torch.arange(5).repeat(2)
    clf.fit(X, y)
    assert clf.predict(X).shape == (10,)
    for k, v in clf.state_dict().items():
        assert torch.equal(v, before[k]), k  # BatchNorm running stats included: fit runs in eval mode


def test_string_labels_and_classes() -> None:
    X, y = blobs(n_classes=3)
    names = np.array(["cat", "dog", "emu"])[y.numpy()]
    clf = hn.InstantClassifier(max_classes=3).fit(X.numpy(), names)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert clf.score(X.numpy(), names) > 0.9  # well separated blobs: the untrained ridge head already separates them


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (torch.randn(6, 3), torch.zeros(6, dtype=torch.long), "at least 2 classes"),
        (torch.randn(6, 3), torch.tensor([0, 1, 0, 1, 0]), "one label per row"),
        (torch.randn(8, 3), torch.arange(8), "at most 4 classes"),
        (torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), torch.tensor([0, 1]), "finite"),
        (torch.randn(4), torch.tensor([0, 1, 0, 1]), "leading sample dimension"),
    ],
)
def test_bad_support_sets_raise_clear_errors(X: torch.Tensor, y: torch.Tensor, match: str) -> None:
    clf = hn.InstantClassifier(max_classes=4)
    with pytest.raises(hn.ConditionError, match=match):
        clf.fit(X, y)
    assert clf.classes_ is None  # a failed fit leaves the model unfitted
    good, labels = blobs(n_classes=2, dim=X.shape[-1] if X.dim() == 2 else 3)
    before = clf.fit(good, labels).predict_proba(good)
    with pytest.raises(hn.ConditionError, match=match):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(good), before)  # ... and a fitted one keeps its classifier
    assert list(clf.classes_) == [0, 1]


def test_predict_before_fit_and_wrong_width() -> None:
    clf = hn.InstantClassifier()
    with pytest.raises(hn.ConfigError, match="call fit"):
        clf.predict(torch.randn(2, 3))
    X, y = blobs()
    clf.fit(X, y)
    with pytest.raises(hn.ConditionError, match=r"rows of shape \(5,\)"):
        clf.predict(torch.randn(2, 4))
    with pytest.raises(hn.ConditionError, match="one label per row"):
        clf.score(X, y[:, None])  # (N, 1) labels would broadcast to an (N, N) comparison
    with pytest.raises(hn.ConditionError, match="numeric X"):
        clf.predict([["a", "b", "c", "d", "e"]])


@pytest.mark.parametrize("head", HEADS)
def test_materialize_gives_the_same_outputs_as_the_model(head: str) -> None:
    clf = hn.InstantClassifier(max_classes=4, head=head)
    clf.generator = trained_generator(head)
    X, y = blobs(n_classes=4)
    X = X * torch.tensor([1.0, 10.0, 0.1, 5.0, 1.0]) + 3  # raw, unstandardised features: the scaler is folded in
    clf.fit(X, y)
    plain = clf.materialize()
    assert all(type(m) in (nn.Linear, nn.ReLU, nn.Sequential) for m in plain.modules())
    q = torch.randn(6, 5) * 4
    torch.testing.assert_close(plain(q), clf.decision_function(q), atol=1e-4, rtol=1e-4)


def test_materialize_with_a_backbone() -> None:
    clf = hn.InstantClassifier(conv4(8), max_classes=3)
    X, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2])
    clf.fit(X, y)
    plain = clf.materialize()
    assert isinstance(plain, nn.Sequential) and not plain.training
    torch.testing.assert_close(plain(X), clf.decision_function(X), atol=1e-5, rtol=1e-5)


def test_materialize_with_a_backbone_and_standardisation() -> None:
    clf = hn.InstantClassifier(nn.Sequential(nn.Linear(4, 6), nn.Tanh()), max_classes=3, standardize=True)
    X, y = blobs(n_classes=3, dim=4)
    X = X * torch.tensor([1.0, 20.0, 0.1, 3.0]) - 7
    clf.fit(X, y)
    plain = clf.materialize()
    q = torch.randn(5, 4) * 5
    torch.testing.assert_close(plain(q), clf.decision_function(q), atol=1e-4, rtol=1e-4)
    assert clf.materialize()[1][0].weight.data_ptr() != clf.backbone[0].weight.data_ptr()  # a copy, not the model's own


def test_uint8_images_scale_the_same_from_numpy_and_torch() -> None:
    clf = hn.InstantClassifier(conv4(8), max_classes=2)
    X = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    y = torch.tensor([0, 1] * 3)
    a = clf.fit(X, y).predict_proba(X)
    b = clf.fit(X.numpy(), y.numpy()).predict_proba(X.numpy())
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, clf.fit(X.float() / 255, y).predict_proba(X.float() / 255), atol=1e-6)


def test_ridge_layer_matches_sklearn_weighted_ridge() -> None:
    from sklearn.linear_model import Ridge

    gen = ClassWeightGenerator(head="ridge", width=12).double()
    X, y = blobs(n_classes=3, per_class=6)
    X, y = X.double(), torch.cat([y, torch.tensor([0, 0, 0])])  # unbalanced: class 0 has 9 rows
    X = torch.cat([X, X[:3] + 0.1])
    with torch.no_grad():
        (w1, b1), (w2, b2) = gen(X, y, 3)
    hidden = torch.relu(X @ w1.T + b1).numpy()
    counts = torch.bincount(y).double()
    weights = (1 / counts[y]).numpy()
    weights /= weights.sum()
    hc = hidden - weights @ hidden
    strength = float(gen.log_ridge.detach().exp()) * float(((hc * weights[:, None]) * hc).sum(0).mean())
    ref = Ridge(alpha=strength).fit(hidden, np.eye(3)[y.numpy()], sample_weight=weights)
    tau = float(gen.log_tau.detach().exp())
    np.testing.assert_allclose(w2.detach().numpy() / tau, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(b2.detach().numpy() / tau, ref.intercept_, atol=1e-8)


@pytest.mark.parametrize(("head", "adapt"), GENERATORS)
def test_generator_gradcheck_float64(head: str, adapt: bool) -> None:
    gen = trained_generator(head, 3 if adapt else None).double()
    X, y = blobs(n_classes=2, per_class=3, dim=3)
    X = X.double().requires_grad_(True)
    q = torch.randn(4, 3, dtype=torch.float64)

    def f(x: torch.Tensor) -> torch.Tensor:
        return run_layers(q, gen(x, y, 2))

    assert torch.autograd.gradcheck(f, (X,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(("head", "adapt"), GENERATORS)
@pytest.mark.parametrize("shots", [1, 3])
def test_a_constant_feature_keeps_gradients_finite(head: str, adapt: bool, shots: int) -> None:
    # a dead ReLU channel: the same value on every support row (one-shot: no spread within classes either);
    # sqrt of a zero between-class spread once gave NaN gradients and a NaN meta-training run
    gen = trained_generator(head, 5 if adapt else None)
    X, y = blobs(n_classes=3, per_class=shots, dim=5)
    X[:, 2] = 0.0
    X.requires_grad_(True)
    q = torch.randn(4, 5)
    run_layers(q, gen(X, y, 3)).square().sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in gen.parameters())


def test_every_generator_parameter_gets_a_gradient() -> None:
    for head, used in (
        ("prototype", {"correction", "metric", "encode", "log_tau"}),
        ("ridge", {"metric", "encode", "task", "log_tau", "log_ridge"}),
        ("ridge_prototype", {"metric", "encode", "task", "log_tau", "log_ridge", "log_gamma"}),
    ):
        gen = trained_generator(head)
        X, y = blobs()
        run_layers(torch.randn(4, 5), gen(X, y, 3)).square().sum().backward()
        for name, p in gen.named_parameters():
            if name.split(".")[0] in used:
                assert p.grad is not None and p.grad.abs().sum() > 0, (head, name)


def test_ridge_prototype_head_adds_the_nearest_prototype_rule() -> None:
    gen = ClassWeightGenerator(head="ridge_prototype", width=16)
    with torch.no_grad():
        gen.log_ridge.fill_(30.0)  # an overwhelming ridge: the regression part is ~0, only the prototype rule is left
    X, y = blobs(n_classes=3, dim=5)
    q = torch.randn(6, 5) * 3
    logits = run_layers(q, gen(X, y, 3))
    mu = torch.stack([X[y == c].mean(0) for c in range(3)])
    centre = mu.mean(0)
    between = (mu - centre).square().mean(0)
    within = torch.stack([X[y == c].var(0, unbiased=False) for c in range(3)]).add(1e-6).mean(0)
    scale = 1 / (between + within + 1e-6).sqrt()  # the metric a starts at 1
    u, protos = (q - centre) * scale, (mu - centre) * scale
    expected = -torch.cdist(u, protos).square() / 5  # gamma starts at 1, divided by D
    torch.testing.assert_close(logits - logits[:, :1], expected - expected[:, :1], atol=1e-4, rtol=1e-4)


def test_prototype_attention_starts_as_the_identity_and_learns() -> None:
    X, y = blobs()
    fresh = ClassWeightGenerator(head="ridge", width=16)
    adapted = ClassWeightGenerator(head="ridge", width=16, adapt=5)
    adapted.load_state_dict(fresh.state_dict(), strict=False)
    q = torch.randn(4, 5)
    torch.testing.assert_close(run_layers(q, adapted(X, y, 3)), run_layers(q, fresh(X, y, 3)))
    gen = trained_generator("ridge", adapt=5)
    run_layers(q, gen(X, y, 3)).square().sum().backward()
    assert gen.adapt is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.adapt.parameters())
    with pytest.raises(hn.ConfigError, match="adapt"):
        hn.InstantClassifier(adapt=5)  # no backbone: no fixed embedding width
    with pytest.raises(hn.ConfigError, match="adapt"):
        hn.InstantClassifier(conv4(8), adapt=0)


def test_save_load_round_trip_and_corrupt_file(tmp_path: Path) -> None:
    clf = hn.InstantClassifier(conv4(8), max_classes=6, head="ridge", width=32, adapt=8)
    path = clf.save(tmp_path / "m.safetensors")
    back = hn.InstantClassifier.load(path, conv4(8))
    assert back.config() == clf.config()
    for k, v in clf.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(hn.CheckpointError, match=r"m\.safetensors"):
        hn.InstantClassifier.load(path, conv4(8))
    good = clf.save(tmp_path / "n.safetensors")
    with pytest.raises(hn.CheckpointError, match="that fit this model, got a mismatch"):
        hn.InstantClassifier.load(good, conv4(4))


def test_episodes_permute_labels_and_are_reproducible() -> None:
    images, labels = torch.rand(200, 8, 8), torch.arange(200) % 10
    sampler = ImageEpisodes(images, labels, classes=list(range(6)), ways=4, shots=(1, 3), queries=2, rotations=True)
    assert sampler.n_classes == 24  # 6 classes x 4 rotations
    seen_first = set()
    for seed in range(12):
        ep = sampler(torch.Generator().manual_seed(seed))
        shots = len(ep.y_support) // 4
        assert sorted(ep.y_support.tolist()) == sorted(list(range(4)) * shots) and len(ep.y_query) == 8
        seen_first.add(float(ep.x_support[0].sum()))
        again = sampler(torch.Generator().manual_seed(seed))
        assert torch.equal(again.x_query, ep.x_query)
    assert len(seen_first) > 6  # label 0 is a different class (or rotation) from episode to episode
    tab = SyntheticTabularTasks(features=(3, 6), classes=(2, 5), support=(20, 40), queries=16)
    for seed in range(20):
        ep = tab(torch.Generator().manual_seed(seed))
        counts = torch.bincount(ep.y_support)
        assert ep.x_support.shape[1] == ep.x_query.shape[1] and len(counts) == ep.n_classes and int(counts.min()) >= 2
        assert int(ep.y_query.max()) < ep.n_classes


def test_bad_sampler_settings() -> None:
    with pytest.raises(hn.ConfigError, match="ways"):
        ImageEpisodes(torch.rand(40, 8, 8), torch.arange(40) % 2, classes=[0, 1], ways=3)
    with pytest.raises(hn.ConfigError, match="images of every class"):
        ImageEpisodes(torch.rand(10, 8, 8), torch.arange(10) % 2, classes=[0, 1], ways=2, shots=5, queries=5)
    with pytest.raises(hn.ConfigError, match="classes >= 2"):
        SyntheticTabularTasks(classes=(1, 3))
    with pytest.raises(hn.ConfigError, match="head"):
        hn.InstantClassifier(head="svm")


def test_meta_training_lowers_the_episode_loss() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = torch.tensor(digits.images, dtype=torch.float32) / 16, torch.tensor(digits.target)
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16))
    clf = hn.InstantClassifier(backbone, max_classes=5)
    test = ImageEpisodes(images[1200:], labels[1200:], classes=list(range(10)), ways=5, shots=3, queries=8)  # held-out images
    g = torch.Generator().manual_seed(0)
    episodes = [test(g) for _ in range(20)]

    def unseen_class_accuracy() -> float:
        return float(np.mean([clf.fit(e.x_support, e.y_support).score(e.x_query, e.y_query.numpy()) for e in episodes]))

    before = unseen_class_accuracy()
    sampler = ImageEpisodes(images[:1200], labels[:1200], classes=list(range(10)), ways=5, shots=(1, 3), queries=5)
    torch.manual_seed(0)
    losses = clf.meta_fit(sampler, 150, lr=3e-3, progress=False)
    assert np.mean(losses[-30:]) < 0.7 * np.mean(losses[:30])
    after = unseen_class_accuracy()
    assert after > before + 0.05  # meta-training helps on episodes of images it never saw


def test_shipped_tabular_weights_make_a_classifier_in_one_pass() -> None:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    X, y = load_wine(return_X_y=True)
    Xs, Xq, ys, yq = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    clf = hn.InstantClassifier.pretrained("tabular")
    assert clf.fit(Xs, ys).score(Xq, yq) > 0.9
    plain = clf.materialize()
    np.testing.assert_allclose(plain(torch.tensor(Xq, dtype=torch.float32)).argmax(1).numpy(), clf.predict(Xq))


def test_shipped_fewshot_weights_load_with_their_backbone() -> None:
    clf = hn.InstantClassifier.pretrained("fewshot")
    X, y = torch.rand(10, 1, 28, 28), torch.arange(5).repeat(2)
    assert clf.fit(X, y).predict_proba(X).shape == (10, 5)
    with pytest.raises(hn.ConfigError, match="pretrained name"):
        hn.InstantClassifier.pretrained("imagenet")
