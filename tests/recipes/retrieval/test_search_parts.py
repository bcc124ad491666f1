"""Search internals: query blocks, the clustered k-NN graph, the synthetic relevance set and the metrics."""

from __future__ import annotations

import pytest
import torch

from hypernet.recipes.retrieval import hypencoder as hyp_module
from hypernet.recipes.retrieval._data import WordTokenizer, synthetic_relevance
from hypernet.recipes.retrieval._metrics import mrr, ndcg, recall
from hypernet.recipes.retrieval._search import clustered_knn_graph, knn_graph

from .test_hypencoder import QUERIES, _model


def test_exhaustive_search_in_query_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(8)
    index = model.index(vectors=torch.randn(40, 16, generator=torch.Generator().manual_seed(0)))
    whole = model.search(QUERIES * 3, index, k=5)
    monkeypatch.setattr(hyp_module, "BLOCK_NUMBERS", 8 * 40)  # one query per block
    blocks = model.search(QUERIES * 3, index, k=5)
    assert torch.equal(whole.ids, blocks.ids)
    torch.testing.assert_close(whole.scores, blocks.scores, atol=1e-6, rtol=0)


def test_clustered_graph_finds_most_exact_neighbours_of_clustered_data() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(6, 8, generator=gen) * 4
    x = (centres.repeat_interleave(50, 0) + torch.randn(300, 8, generator=gen)).contiguous()
    approx, exact = clustered_knn_graph(x, 5, cells=6), knn_graph(x, 5)
    assert approx.shape == (300, 5) and (approx != torch.arange(300).unsqueeze(1)).all()
    overlap = sum(len(set(a) & set(b)) for a, b in zip(approx.tolist(), exact.tolist(), strict=True)) / exact.numel()
    assert overlap > 0.8


def test_synthetic_set_has_two_clusters_per_query_no_inner_product_ranks_first() -> None:
    data = synthetic_relevance(32, clusters=2, features=3, per_cluster=4)
    assert data.vectors.shape == (2 * (2 * 2 + 3 * 4) * 4, 32)
    for queries in data.test.values():
        for _, rel in queries:
            assert len(rel) == 8
    _, rel = data.test["opposite"][0]
    v = data.vectors[sorted(rel)]
    assert (v[:4].mean(0) @ v[4:].mean(0)) < -0.5  # the two relevant clusters are opposite
    assert len(data.train_negatives) == len(data.train) and all(data.train_negatives)
    assert WordTokenizer(data.vocab)(["xor f0 f1", "zzz"])["input_ids"].tolist() == [[1, 5, 8, 9, 2], [1, 3, 2, 0, 0]]


def test_synthetic_validation_part_leaves_train_and_test_unchanged() -> None:
    plain = synthetic_relevance(32, clusters=2, features=3, per_cluster=4)
    both = synthetic_relevance(32, clusters=2, features=3, per_cluster=4, validation=True)
    n = plain.vectors.shape[0]
    assert torch.equal(both.vectors[:n], plain.vectors) and both.vectors.shape[0] == n * 3 // 2
    assert both.train == plain.train and both.test == plain.test and both.train_negatives == plain.train_negatives
    assert plain.val == {} and sorted(both.val) == ["opposite", "xor"]
    for (name_t, rel_t), (name_v, rel_v) in zip(both.test["xor"], both.val["xor"], strict=True):
        assert name_t == name_v and len(rel_v) == len(rel_t) == 8
        assert min(rel_v) >= n  # validation documents come from the third part only
        centre_v, centre_t = both.vectors[sorted(rel_v)[:4]].mean(0), both.vectors[sorted(rel_t)[:4]].mean(0)
        assert torch.cosine_similarity(centre_v, centre_t, dim=0) > 0.9  # the same cluster, drawn again


def test_metrics_against_hand_computed_values() -> None:
    ranked, rel = [[4, 2, 9], [1, 2, 3]], [{2, 9}, {7}]
    assert mrr(ranked, rel) == pytest.approx(0.25)
    assert ndcg(ranked, rel) == pytest.approx((1 / 1.5849625 + 0.5) / (1 + 1 / 1.5849625) / 2)
    assert recall(ranked, rel, k=2) == pytest.approx(0.25)
    assert mrr(ranked, [set(), {1}]) == 1.0  # queries without relevant documents are left out
