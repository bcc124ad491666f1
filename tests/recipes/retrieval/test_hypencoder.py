"""hn.Hypencoder: the q-net against a hand-written MLP, batched vs per-query search, graph vs exhaustive, the index on disk, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel

import hypernet as hn
from hypernet.recipes.adapters._testing import tiny_tokenizer
from hypernet.recipes.retrieval import DocumentIndex, Hypencoder
from hypernet.recipes.retrieval._baselines import BiEncoder, LateInteraction
from hypernet.recipes.retrieval._qnet import QNetWeights as QNet
from hypernet.recipes.retrieval._qnet import qnet_scores

CORPUS = [
    "alpha beta gamma",
    "delta epsilon",
    "zeta eta theta iota",
    "kappa alpha",
    "beta delta zeta",
    "theta theta kappa",
    "iota gamma epsilon eta",
    "alpha zeta",
    "eta beta",
    "gamma kappa delta",
]
QUERIES = ["alpha", "zeta theta", "kappa delta beta", "eta"]


def _model(hidden: int | None = None, *, width: int = 16, **kw: object) -> Hypencoder:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=64,
        hidden_size=width,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    kw.setdefault("skip", False)  # the paper's q-net unless a test asks for the skip
    return Hypencoder(BertModel(cfg).eval(), tiny_tokenizer(64), qnet_layers=2, qnet_hidden=hidden, **kw).eval()  # type: ignore[arg-type]


def test_qnet_score_equals_a_hand_written_mlp_with_the_generated_weights() -> None:
    model = _model()  # hidden = width: the first block has a residual connection
    with torch.no_grad():
        qnets = model.qnets(QUERIES)
        docs = model.document_features(CORPUS)[0]
        got = model.scores(qnets, docs)
    for q in range(len(QUERIES)):
        w1, w2, w3 = (w[q] for w in qnets.weights)
        b1, b2 = (b[q] for b in qnets.biases)
        l1, l2, l3 = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 1, bias=False)
        with torch.no_grad():
            l1.weight.copy_(w1.T), l1.bias.copy_(b1), l2.weight.copy_(w2.T), l2.bias.copy_(b2), l3.weight.copy_(w3.T)
            x = docs
            x = F.layer_norm(torch.relu(l1(x)), (16,)) + x  # residual on every block but the last
            x = F.layer_norm(torch.relu(l2(x)), (16,))
            want = l3(x).squeeze(-1)
        torch.testing.assert_close(got[q], want, atol=1e-6, rtol=0)
    # and per-query document tensors give the same scores as shared ones
    torch.testing.assert_close(model.scores(qnets, docs.expand(len(QUERIES), -1, -1)), got, atol=1e-6, rtol=0)


def test_every_hyper_head_parameter_gets_a_gradient() -> None:
    model = _model(8).train()
    docs = model.document_features(CORPUS[:4], grad=True)[0]
    model.scores(model.encode_queries(QUERIES), docs).logsumexp(1).sum().backward()
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0) and "pooler" not in n
    ]
    assert not missing


@pytest.mark.parametrize("approximate", [False, True])
def test_batched_search_equals_per_query_search(approximate: bool) -> None:
    model = _model(8)
    index = model.index(CORPUS, graph_neighbors=3)
    kw = {"approximate": approximate, "ef": 4, "entry_points": 2}
    batched = model.search(QUERIES, index, k=3, chunk=4, **kw)  # type: ignore[arg-type]
    for q, text in enumerate(QUERIES):
        one = model.search([text], index, k=3, chunk=1000, **kw)  # type: ignore[arg-type]
        assert torch.equal(one.ids[0], batched.ids[q])
        torch.testing.assert_close(one.scores[0], batched.scores[q], atol=1e-6, rtol=0)


def test_exhaustive_search_is_the_top_k_of_all_scores() -> None:
    model = _model(8)
    index = model.index(CORPUS)
    res = model.search(QUERIES, index, k=4, chunk=3)
    with torch.no_grad():
        full = model.scores(model.qnets(QUERIES), index.vectors)
    assert torch.equal(res.ids, full.topk(4, dim=1).indices)


@pytest.mark.parametrize("seeds", ["random", "linear", "quadratic"])
def test_approximate_search_with_a_complete_graph_equals_exhaustive(seeds: str) -> None:
    model = _model(8)
    torch.manual_seed(1)
    vectors = torch.randn(60, 16)
    index = model.index(vectors=vectors, graph_neighbors=59)
    exact = model.search(QUERIES, index, k=7)
    approx = model.search(QUERIES, index, k=7, approximate=True, seeds=seeds, entry_points=1, ef=7)
    assert torch.equal(approx.ids, exact.ids)
    torch.testing.assert_close(approx.scores, exact.scores, atol=1e-6, rtol=0)
    # a sparse graph with few seeds scores fewer documents and may miss some: the knobs matter
    sparse = model.index(vectors=vectors, graph_neighbors=2)
    assert sparse.graph is not None and sparse.graph.shape == (60, 2)


def test_an_index_round_trips_through_save_and_load(tmp_path: Path) -> None:
    model = _model(8)
    index = model.index(CORPUS, graph_neighbors=4)
    path = index.save(tmp_path / "idx")
    again = DocumentIndex.load(path)
    assert torch.equal(again.vectors, index.vectors) and again.graph is not None and index.graph is not None
    assert torch.equal(again.graph, index.graph)
    assert again.texts == CORPUS and again.width == 16 and again.pooling == "mean"
    a, b = model.search(QUERIES, index, k=3), model.search(QUERIES, again, k=3)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.scores, b.scores)
    assert b.texts(again)[0][0] == CORPUS[int(a.ids[0, 0])]
    (path / "index.safetensors").write_bytes((path / "index.safetensors").read_bytes()[:-3] + b"xyz")
    with pytest.raises(hn.ConfigError, match="sha256"):
        DocumentIndex.load(path)


def test_bad_input_raises_config_error() -> None:
    model = _model(8)
    index = model.index(CORPUS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(hn.ConfigError, match="empty"):
        model.index([])
    with pytest.raises(hn.ConfigError, match="empty"):
        model.index(vectors=torch.zeros(0, 16))
    with pytest.raises(hn.ConfigError, match=r"expected k in \[1, 10\]"):
        model.search(QUERIES, index, k=11)
    with pytest.raises(hn.ConfigError, match="width 16"):
        model.search(QUERIES, DocumentIndex(torch.randn(5, 24)), k=2)
    with pytest.raises(hn.ConfigError, match="width 16"):
        model.index(vectors=torch.randn(5, 24))
    with pytest.raises(hn.ConfigError, match="graph"):
        model.search(QUERIES, model.index(CORPUS, graph_neighbors=0), k=2, approximate=True)
    with pytest.raises(hn.ConfigError, match="pairs"):
        model.fit([("q", 99)], CORPUS, steps=1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_fit_learns_and_resumes_exactly(tmp_path: Path) -> None:
    pairs = [(t.split()[0] + " " + t.split()[-1], i) for i, t in enumerate(CORPUS)]
    kw = {"steps": 6, "batch_size": 4, "lr": 1e-4, "head_lr": 1e-2, "checkpoint_every": 3}
    losses: list[float] = []
    whole = _model(8, freeze_documents=True).fit(pairs, CORPUS, checkpoint_dir=tmp_path / "a", callback=lambda s, v: losses.append(v), **kw)  # type: ignore[arg-type]
    half = _model(8, freeze_documents=True).fit(pairs, CORPUS, checkpoint_dir=tmp_path / "b", **{**kw, "steps": 3})  # type: ignore[arg-type]
    resumed = _model(8, freeze_documents=True)
    resumed.fit(pairs, CORPUS, checkpoint_dir=tmp_path / "b", resume=True, **kw)  # type: ignore[arg-type]
    for (name, p), q in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)
    assert half is not resumed and len(losses) == 6
    fresh = _model(8, freeze_documents=True)
    before = fresh.search([q for q, _ in pairs], fresh.index(CORPUS), k=1)
    # batch 8: at batch 4 some seeds' q-nets die (every hidden unit off, scores equal, loss stuck at ln 4) on this machine
    longer = fresh.fit(pairs, CORPUS, **{**kw, "steps": 150, "batch_size": 8, "checkpoint_every": 1000})  # type: ignore[arg-type]
    after = longer.search([q for q, _ in pairs], longer.index(CORPUS), k=1)
    hits = (before.ids[:, 0] == torch.arange(len(CORPUS))).float().mean(), (after.ids[:, 0] == torch.arange(len(CORPUS))).float().mean()
    assert hits[0] <= 0.3 and hits[1] >= 0.8, hits


def test_baselines_score_like_their_definitions() -> None:
    torch.manual_seed(0)
    bert = _model(8).encoder
    bi = BiEncoder(bert, tiny_tokenizer(64)).eval()
    with torch.no_grad():
        q, d = bi.encode_queries(QUERIES), bi.doc_repr(bi.document_features(CORPUS))
        torch.testing.assert_close(bi.scores(q, d), F.normalize(q, dim=-1) @ F.normalize(d, dim=-1).T)
        late = LateInteraction(bert, tiny_tokenizer(64), dim=8).eval()
        qt, dt = late.encode_queries(QUERIES), late.doc_repr(late.document_features(CORPUS))
        s = late.scores(qt, dt)
        i, n = 2, 5
        qi = qt[0][i][qt[1][i] == 1]
        dn = dt[0][n][dt[1][n] == 1]
        torch.testing.assert_close(s[i, n], (qi @ dn.T).max(dim=1).values.sum())


def _perturbed_skip_model() -> Hypencoder:
    model = _model(8, skip=True)
    with torch.no_grad():
        model.qnet_gain.fill_(0.7)  # away from its zero start, so the q-net part counts
    return model


def test_skip_untrained_ranks_exactly_as_the_encoders_cosine() -> None:
    model = _model(8, skip=True)
    index = model.index(CORPUS)
    with torch.no_grad():
        got = model.scores(model.qnets(QUERIES), index.vectors)
        hidden = model.encoder(**_tokens(model, QUERIES)).last_hidden_state
        mask = _tokens(model, QUERIES)["attention_mask"].unsqueeze(-1).float()
        q = F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        docs = model.document_features(CORPUS)[0]
    torch.testing.assert_close(index.vectors.norm(dim=-1), torch.ones(len(CORPUS)))  # documents are indexed normalised
    torch.testing.assert_close(got, 20.0 * q @ F.normalize(docs, dim=-1).T, atol=1e-5, rtol=1e-5)
    assert index.pooling == "mean, normalised"
    with pytest.raises(hn.ConfigError, match="normalised"):
        model.search(QUERIES, _model(8).index(CORPUS), k=2)  # an index of the plain model: vectors of another kind


def _tokens(model: Hypencoder, texts: list[str]) -> dict[str, torch.Tensor]:
    enc = model.tokenizer(texts, padding=True, truncation=True, max_length=model.query_max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def test_skip_qnet_score_is_the_mlp_plus_the_linear_term() -> None:
    model = _perturbed_skip_model()
    with torch.no_grad():
        qnets = model.qnets(QUERIES)
        docs = model.document_features(CORPUS)[0]
        docs = model.doc_repr((docs,))
        got = model.scores(qnets, docs)
        plain = QNet(qnets.weights, qnets.biases)
    assert qnets.skip is not None
    torch.testing.assert_close(got, qnet_scores(plain, docs) + qnets.skip @ docs.T, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(model.scores(qnets, docs.expand(len(QUERIES), -1, -1)), got, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("approximate", [False, True])
def test_skip_batched_and_approximate_search_equal_exhaustive(approximate: bool) -> None:
    model = _perturbed_skip_model()
    index = model.index(CORPUS, graph_neighbors=len(CORPUS) - 1)
    exact = model.search(QUERIES, index, k=3)
    got = model.search(QUERIES, index, k=3, approximate=approximate, ef=3, entry_points=1)
    assert torch.equal(got.ids, exact.ids)
    for q, text in enumerate(QUERIES):
        assert torch.equal(model.search([text], index, k=3).ids[0], exact.ids[q])


def test_skip_parameters_train() -> None:
    model = _perturbed_skip_model().train()
    docs = model.document_features(CORPUS[:4], grad=True)[0]
    model.scores(model.encode_queries(QUERIES), docs).logsumexp(1).sum().backward()
    assert model.log_skip_scale.grad is not None and model.log_skip_scale.grad.abs() > 0
    assert model.qnet_gain.grad is not None and model.qnet_gain.grad.abs() > 0


def test_skip_scores_in_bfloat16_rank_as_float32() -> None:
    model = _perturbed_skip_model()
    index = model.index(CORPUS)
    exact = model.search(QUERIES, index, k=5)
    half = model.search(QUERIES, index, k=5, dtype=torch.bfloat16)  # the skip term (near 20) is summed in float32
    assert torch.equal(half.ids[:, :3], exact.ids[:, :3])


@pytest.mark.parametrize("broken", ["zero", "nan"])
def test_fit_raises_on_dead_or_non_finite_gradients_and_keeps_the_weights(broken: str) -> None:
    model = _model(8, freeze_documents=True)
    scores = model.scores

    def zero(q: QNet, d: torch.Tensor) -> torch.Tensor:  # every score equal: the loss is ln(batch), every gradient 0
        return scores(q, d) * 0

    def nan(q: QNet, d: torch.Tensor) -> torch.Tensor:  # the same scores, a NaN gradient (sqrt'(0) * abs'(0))
        return scores(q, d) + torch.sqrt((q.biases[0] - q.biases[0].detach()).abs().sum())

    model.scores = zero if broken == "zero" else nan  # type: ignore[method-assign]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pairs = [(t.split()[0], i) for i, t in enumerate(CORPUS)]
    match = "non-zero gradient .* step 1 of Hypencoder.fit" if broken == "zero" else "finite gradients, got a gradient norm of nan"
    with pytest.raises(hn.training.TrainingError, match=match):
        model.fit(pairs, CORPUS, steps=3, batch_size=4)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
