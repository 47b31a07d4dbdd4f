"""Attention to the challenge: planted heads stand out, batched shares match a per-prompt loop."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import torch

from sycolens.attention import __main__ as attention_cli
from sycolens.attention.compare import compare_top_heads
from sycolens.attention.config import AttentionJob, AttentionSpan, resolve_top_n
from sycolens.attention.patterns import answer_patterns, challenge_attention
from sycolens.attention.run import AttentionResult, attention_model
from sycolens.attention.views import attention_view, views_page
from sycolens.head_lists import parse_head_list
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.record import ModelRecord
from sycolens.models.spec import ModelSpec
from sycolens.models.tiny import TinyFamily
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.patching.ranking_file import RankingFile
from sycolens.prompts.chat import Message
from sycolens.prompts.pairs import build_pairs
from sycolens.schemas import schema_for

PLANTED = [Head(1, 2), Head(2, 0), Head(3, 3)]
CHATS = [list(pair.reference) for pair in build_pairs(sample_questions(11, 24, HELD_OUT_SPLIT))]


@pytest.mark.parametrize("name", ["organism-mha", "organism-gqa"])
def test_planted_heads_attend_to_the_challenge_more_than_the_rest(
    name: str, fresh_model: Callable[..., LoadedModel]
):
    attention = challenge_attention(fresh_model(name), CHATS)
    comparison = compare_top_heads(attention, PLANTED)
    assert comparison.p_value < 0.01
    assert comparison.top_mean > 0.3 > 0.05 > comparison.others_mean
    assert (comparison.n_top, comparison.n_others, comparison.n_prompts) == (3, 13, 24)


@pytest.mark.parametrize("span", ["sentence", "turn"])
def test_batched_shares_match_a_per_prompt_loop(organism: LoadedModel, span: AttentionSpan):
    attention = challenge_attention(organism, CHATS[:6], span=span, batch_size=4)
    for row, (chat, spans) in enumerate(zip(CHATS[:6], attention.spans, strict=True)):
        patterns = answer_patterns(organism, chat, range(organism.n_layers))
        start, stop = (
            spans.require_challenge_sentence("")
            if span == "sentence"
            else spans.require_challenge("")
        )
        for layer in range(organism.n_layers):
            slow = patterns[layer][:, -1, start:stop].sum(-1)
            torch.testing.assert_close(attention.shares[row, layer], slow, atol=1e-5, rtol=0)
        assert attention.token_shares[row] == pytest.approx((stop - start) / len(spans.ids))


def test_a_prompt_without_challenge_is_named(organism: LoadedModel):
    with pytest.raises(ValueError, match="Chat 1 has no challenge turn"):
        challenge_attention(organism, [CHATS[0], [Message(role="user", content="what is 2 + 3 ?")]])


def test_views_embed_circuitsvis_once(organism: LoadedModel):
    views = [attention_view(organism, chat, PLANTED).local_src for chat in CHATS[:2]]
    assert "L1H2" in views[0] and "CircuitsVis.render" in views[0]
    page = views_page("t", [("a", views[0]), ("b", views[1])])
    assert page.count("CircuitsVis.render") == 2
    assert len(page) < 1.2 * len(views[0])  # the second view reuses the first one's bundle
    with pytest.raises(ValueError, match=r"Head \(4, 0\) is out of range"):
        attention_view(organism, CHATS[0], [Head(4, 0)])


@pytest.fixture
def ranking_file(organism_ranking: Path) -> Path:
    return organism_ranking


def test_the_ranking_top_heads_on_held_out_prompts(
    organism: LoadedModel, ranking_file: Path, tmp_path: Path
):
    job = AttentionJob(model=ModelSpec(name="organism-mha"), heads=ranking_file, n_prompts=16)
    result = attention_model(organism, job, show_progress=False)
    assert set(result.top) == set(PLANTED) and result.questions.skip == 16
    assert result.document["test"]["p_value"] < 0.01
    assert len(result.views) == 3 and len(result.document["heads"]) == 16
    read = AttentionResult.read(result.save(tmp_path / "attention.json"))
    assert read.document == result.document and read.top == result.top
    assert read.comparison.p_value == result.comparison.p_value and read.views == ()
    pd.testing.assert_frame_equal(read.frame, result.frame, check_dtype=False)
    assert read.model == ModelRecord.of(organism) and read.questions == result.questions


def test_hand_picked_heads_on_the_models_own_prompts(organism: LoadedModel):
    job = AttentionJob(
        model=ModelSpec(name="organism-mha"), heads=parse_head_list("3.3,2.0,1.2"), n_prompts=12
    )
    result = attention_model(organism, job, show_progress=False)
    assert result.top == (Head(3, 3), Head(2, 0), Head(1, 2))
    assert result.questions.source == "organism" and result.questions.skip == 0
    ranking = result.document["ranking"]
    assert ranking["order"] is None and ranking["top_n"] == 3 and ranking["path"] == "3.3,2.0,1.2"
    assert result.document["heads_source"]["kind"] == "list"
    jsonschema.validate(result.document, schema_for(result.document))


def test_cli_writes_page_and_json(ranking_file: Path, tmp_path: Path):
    out, data = tmp_path / "attn.html", tmp_path / "attn.json"
    attention_cli.main(["--model", "organism-mha", "--heads", str(ranking_file), "--prompts",
                        "8", "--views", "1", "--html", str(out), "--out", str(data)])  # fmt: skip
    page = out.read_text()
    assert page.count("CircuitsVis.render") == 1 and "Mann-Whitney" in page
    assert '"schema": "sycolens.challenge_attention"' in data.read_text()


def test_every_cli_flag_reaches_the_config(
    flags_reach_config: Callable[..., None], ranking_file: Path
):
    flags_reach_config(
        attention_cli.parse_args,
        {
            "--model": ("organism-mha", "job.model.name", "organism-mha"),
            "--device": ("cpu", "job.model.device", "cpu"),
            "--dtype": ("bfloat16", "job.model.dtype", "bfloat16"),
            "--device-map": ("auto", "job.model.device_map", "auto"),
            "--offload-dir": ("off", "job.model.offload_dir", Path("off")),
            "--heads": (str(ranking_file), "job.heads", ranking_file),
            "--questions": ("organism", "job.questions.source", "organism"),
            "--prompts": ("9", "job.n_prompts", 9),
            "--seed": ("4", "job.questions.seed", 4),
            "--top-k": ("5", "job.top_n", 5),
            "--order": ("magnitude", "job.order", "magnitude"),
            "--span": ("turn", "job.span", "turn"),
            "--views": ("2", "job.n_views", 2),
            "--view-heads": ("3", "job.n_view_heads", 3),
            "--batch-size": ("3", "job.batch_size", 3),
            "--out": ("a.json", "out", Path("a.json")),
            "--html": ("a.html", "html", Path("a.html")),
        },
        unset={"job.allow_other_weights", "job.questions.n"},
    )
    argv = ["--model", "organism-mha", "--heads", str(ranking_file), "--allow-other-weights"]
    assert attention_cli.parse_args(argv).job.allow_other_weights


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top-k", "16"], r"--top-k 16 leaves no other heads to compare with"),
        (["--top-n", "0"], r"--top-k must be >= 1"),
        (["--out", "a.html"], r"--out a\.html is the JSON output \(the page is --html\)"),
        (["--heads", "1.2,2.0", "--top-k", "3"], r"--top-k 3 asks for more heads than the 2"),
        (["--heads", "1.2,4.0"], r"names 4\.0, outside organism-mha's 4 layers"),
        (["--prompts", "0"], r"--prompts must be >= 1"),
        (["--seed", "3"], r"--seed without --questions"),
        (["--model", "{tiny llama}"], r"ranks heads of 'organism-mha' \(4 layers"),
    ],
)
def test_bad_flags_fail_before_anything_loads(
    extra: list[str],
    message: str,
    ranking_file: Path,
    usage_error: Callable[..., str],
    tiny_checkpoints: dict[TinyFamily, Path],
):
    extra = [str(tiny_checkpoints["llama"]) if flag == "{tiny llama}" else flag for flag in extra]
    argv = ["--model", "organism-mha", "--heads", str(ranking_file), *extra]
    assert re.search(message, usage_error(attention_cli.parse_args, argv))


def test_an_output_over_the_ranking_or_another_output_is_refused(
    ranking_file: Path, usage_error: Callable[..., str], tmp_path: Path
):
    base = ["--model", "organism-mha", "--heads", str(ranking_file)]
    over_ranking = usage_error(attention_cli.parse_args, [*base, "--out", str(ranking_file)])
    assert f"--out {ranking_file} is the file --heads names" in over_ranking
    same = str(tmp_path / "a.json")
    both = usage_error(attention_cli.parse_args, [*base, "--out", same, "--html", same])
    assert f"--html {same} is the file --out names" in both


def test_a_ranking_exporting_every_head_compares_all_but_one_by_default(
    ranking_file: Path, tmp_path: Path
):
    document = json.loads(ranking_file.read_text())
    document["top_k"] = [[layer, head] for layer in range(4) for head in range(4)]
    every = tmp_path / "every.json"
    every.write_text(json.dumps(document))
    config = attention_cli.parse_args(["--model", "organism-mha", "--heads", str(every)])
    assert config.job.top_n is None
    assert resolve_top_n(config.job, RankingFile.read(every), 16) == 15
