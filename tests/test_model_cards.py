"""The shipped model cards: filled from measured numbers only, no empty field or placeholder.

Cards are written by scripts/make_default_model.py from the model's metrics.json; these
tests re-read both and check that every figure in the card is the measured one.
"""

import importlib.util
import json
import re

import pytest

from editgan.model import ROOT, shipped_domains

spec = importlib.util.spec_from_file_location("make_default_model", ROOT / "scripts" / "make_default_model.py")
make_default_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_default_model)
card_problems = make_default_model.card_problems

DOMAINS = shipped_domains()


def test_the_checker_finds_the_placeholders_a_card_once_shipped_with():
    # The text weights/cars/README.md held before its few-shot figures were measured.
    old = "Trained instead from only N labelled samples (the EditGAN way): N = :\nmIoU .\n"
    assert card_problems(old) == ["empty list after '='", "empty figure after a label"]
    assert "empty bold figure" in card_problems("PSNR: ** dB**")
    assert "None or nan as a value" in card_problems("| 3 | ears | rgb(1, 2, 3) | nan |")
    assert "a table row with an empty cell" in card_problems("| 16 |  |")
    assert "a section with no body" in card_problems("## Training\n\n## Segmentation branch\ntext")
    assert "unfilled template brace" in card_problems("PSNR {psnr_db}")
    assert card_problems("Held-out PSNR (256 samples): **22.36 dB**.\n\n| 16 | 0.665 |\n") == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_shipped_card_has_no_empty_field(domain):
    card = (ROOT / "weights" / domain / "README.md").read_text()
    assert card_problems(card) == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_shipped_card_figures_are_the_measured_ones(domain):
    folder = ROOT / "weights" / domain
    card = (folder / "README.md").read_text()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert f"**{metrics['psnr_db']:.2f} dB**" in card
    assert f"**{metrics['miou_shipped']:.3f}**" in card
    few = dict(re.findall(r"^\| (\d+) \| (\d\.\d{3}) \|$", card, re.MULTILINE))
    assert few, "the card has no few-shot mIoU table"
    assert few == {n: f"{v:.3f}" for n, v in metrics["few_shot"].items()}
    assert "16" in few, "the EditGAN setting (16 labels) must be measured"
    for name, iou in metrics["per_class_iou_shipped"].items():
        assert f"| {name} |" in card and f"{iou or 0:.3f} |" in card
