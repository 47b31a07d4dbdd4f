"""What --heads names: a ranking, a {layer: [heads]} file or an L.H,L.H list, checked early."""

import json
import re
from pathlib import Path

import pytest

from sycolens.head_lists import (
    HeadList,
    check_heads_fit,
    heads_from_flag,
    heads_record,
    parse_head_list,
    read_heads,
)
from sycolens.heads import Head
from sycolens.models.sources import ModelShape
from sycolens.patching.ranking_file import RankingFile

ORGANISM = ModelShape(n_layers=4, n_heads=4)


def test_a_list_keeps_its_order_and_spacing_is_forgiven():
    heads = parse_head_list(" 3.3, 2.0,1.12 ")
    assert heads.heads == (Head(3, 3), Head(2, 0), Head(1, 12)) and heads.kind == "list"
    assert heads.text == "3.3,2.0,1.12"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3.3;2.0", r"neither a file nor a list of heads.*e\.g\. 3\.3,2\.0"),
        ("3-3", r"neither a file nor a list of heads"),
        ("L3H3", r"neither a file nor a list of heads"),
        ("3.3,3.3", r"names 3\.3 more than once\. Fix: name each head once"),
    ],
)
def test_a_bad_list_is_refused_naming_the_format(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        parse_head_list(text)


def test_the_flag_takes_a_file_before_a_list_and_names_a_missing_file(tmp_path: Path):
    file = tmp_path / "heads.json"
    file.write_text("{}")
    assert heads_from_flag(str(file)) == file
    assert heads_from_flag("1.2") == HeadList((Head(1, 2),), "1.2", "list")
    with pytest.raises(FileNotFoundError, match=r"--heads nope\.json: no such file"):
        heads_from_flag("nope.json")


def test_a_heads_by_layer_file_reads_in_file_order(tmp_path: Path):
    path = tmp_path / "by_layer.json"
    path.write_text(json.dumps({"3": [3], "1": [2, 0]}))
    heads = read_heads(path)
    assert isinstance(heads, HeadList) and heads.kind == "heads_by_layer"
    assert heads.heads == (Head(3, 3), Head(1, 2), Head(1, 0))
    assert heads_record(path) == {
        "kind": "heads_by_layer",
        "origin": str(path),
        "heads": [[3, 3], [1, 2], [1, 0]],
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, r"neither a sycolens\.head_ranking file nor a non-empty \{layer: \[heads\]\}"),
        ([1, 2], r"neither a sycolens\.head_ranking file"),
        ({"x": [1]}, r"entry 'x': \[1\] is not layer: \[heads\]"),
        ({"1": [0.5]}, r"layer 1 lists 0\.5, not a head number"),
        ({"1": []}, r"names no head"),
    ],
)
def test_a_malformed_heads_by_layer_file_names_the_file(
    tmp_path: Path, document: object, message: str
):
    path = tmp_path / "by_layer.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=message):
        read_heads(path)


def test_heads_outside_the_model_are_refused_before_loading(tmp_path: Path):
    with pytest.raises(ValueError, match=re.escape("names 4.0,1.9, outside organism-mha's 4")):
        check_heads_fit(parse_head_list("4.0,1.9,1.1"), "organism-mha", ORGANISM)
    by_layer = tmp_path / "other_model.json"
    by_layer.write_text(json.dumps({"29": [8]}))
    with pytest.raises(ValueError, match=r"Fix: name heads of this model .*, or a file made for"):
        check_heads_fit(by_layer, "organism-mha", ORGANISM)


def test_a_ranking_of_another_shape_is_refused(organism_ranking: Path):
    with pytest.raises(ValueError, match=r"ranks heads of .* but smollm2 has 30 x 9"):
        check_heads_fit(organism_ranking, "smollm2", ModelShape(n_layers=30, n_heads=9))
    assert isinstance(check_heads_fit(organism_ranking, "organism-mha", ORGANISM), RankingFile)


def test_an_empty_ranking_is_refused_naming_the_fix(organism_ranking: Path, tmp_path: Path):
    document = json.loads(organism_ranking.read_text())
    document["scores"], document["top_k"] = [], []
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"ranks no heads .* Fix: rank the heads again"):
        check_heads_fit(empty, "organism-mha", ORGANISM)
