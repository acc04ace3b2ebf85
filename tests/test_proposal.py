"""k-means proposals of part maps from a generator's own features."""

import torch

from editgan.model import load_model
from editgan.proposal import assign_clusters, kmeans, propose
from editgan.training import labelled_samples
from editgan.world import get_world


def test_kmeans_separates_obvious_clusters():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(50, 2, generator=g) * 0.1 + c for c in (torch.tensor([0.0, 0]), torch.tensor([5.0, 5]), torch.tensor([-5.0, 5]))])
    _, assign = kmeans(x, 3)
    for block in assign.split(50):
        assert len(block.unique()) == 1
    assert len(assign.unique()) == 3


def test_proposal_follows_the_true_parts_of_the_default_model():
    """Clusters of the faces model's features are nearly pure in the renderer's exact labels."""
    model = load_model("faces")
    w, labels = labelled_samples(model.G, get_world("faces"), 6, 7)
    clusters = propose(model.G, w, k=12)
    assert clusters.shape == labels.shape
    pure = sum(torch.bincount(labels[clusters == j]).max().item() for j in clusters.unique())
    assert pure / labels.numel() > 0.7


def test_assigning_clusters_merges_them_into_classes():
    clusters = torch.tensor([[0, 1, 2], [3, 3, 1]])
    parts = assign_clusters(clusters, {1: 5, 2: 5, 3: 2})
    assert parts.tolist() == [[0, 5, 5], [2, 2, 5]]
