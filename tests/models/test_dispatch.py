"""A model dispatched with half its layers on disk gives what the whole model gives.

`dispatched_organism` is organism-mha placed by `HALF_ON_DISK` (layers 2-3, the embedding and
the unembedding on disk; accelerate's dispatch runs on a CPU too). It runs through the bridge
(eager attention), the whole model through the plain SDPA network, so the sums run in another
order: scores agree to ATOL in fp32; greedy replies are the same text.
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch
from accelerate.hooks import AlignDevicesHook

from sycolens import ablate, api
from sycolens.models import LoadedModel
from sycolens.models.deltas import apply_deltas, count_changed_elements, save_deltas
from sycolens.models.dispatch import model_skeleton, plan_device_map
from sycolens.models.fingerprint import weights_fingerprint
from sycolens.models.generate import generate_replies
from sycolens.models.placement import is_dispatched, stored_tensor
from sycolens.models.record import ModelRecord
from sycolens.models.sources import resolve_checkpoint
from sycolens.models.spec import ModelSpec
from sycolens.organism.chat import challenged_chat
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.patching.config import DiagnoseConfig, PatchMode, PatchPositions
from sycolens.patching.diagnose import diagnose_heads
from sycolens.prompts.labels import resolve_label_tokens
from sycolens.prompts.pairs import build_pairs, tokenize_pairs
from sycolens.prompts.schema import REFERENCE_CHALLENGE
from sycolens.schemas import schema_for
from sycolens.tuning.config import TuneJob
from sycolens.tuning.run import tune_model
from tests.conftest import HALF_ON_DISK

ATOL = 1e-5
# Tokenizes, in the organism's word-level vocabulary, to as many tokens as the paper's doubt.
ORGANISM_ALIGNED = "Yes, I do think that's right. Are you sure?"


@pytest.fixture
def offloaded_in_use() -> Iterator[list[int]]:
    """Counts the offloaded modules whose weights are brought in at once (its peak, after)."""
    active: set[int] = set()
    peak = [0]
    bring, release = AlignDevicesHook.pre_forward, AlignDevicesHook.post_forward

    def pre_forward(hook: AlignDevicesHook, module: Any, *args: Any, **kwargs: Any) -> Any:
        if hook.offload:
            active.add(id(module))
            peak[0] = max(peak[0], len(active))
        return bring(hook, module, *args, **kwargs)

    def post_forward(hook: AlignDevicesHook, module: Any, output: Any) -> Any:
        released = release(hook, module, output)
        active.discard(id(module))
        return released

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AlignDevicesHook, "pre_forward", pre_forward)
        patch.setattr(AlignDevicesHook, "post_forward", post_forward)
        yield peak
    assert not active  # every module let its weights go


def _offloaded(model: LoadedModel) -> list[str]:
    return [name for name, p in model.hf_model.named_parameters() if p.is_meta]


def test_the_map_is_kept_and_recorded_with_the_same_fingerprint(
    dispatched_organism: LoadedModel, organism: LoadedModel
):
    assert is_dispatched(dispatched_organism.hf_model)
    assert len(_offloaded(dispatched_organism)) == 20  # 2 layers x 9, embedding, unembedding
    assert dispatched_organism.device == torch.device("cpu")  # where the embedding runs
    assert weights_fingerprint(dispatched_organism) == weights_fingerprint(organism)
    assert ModelRecord.of(dispatched_organism).device_map == HALF_ON_DISK
    assert ModelRecord.of(organism).device_map is None


@pytest.mark.parametrize(
    ("mode", "positions"), [("direct", "last"), ("total", "last"), ("total", "all")]
)
def test_scores_equal_the_whole_models_and_never_gather_it(
    dispatched_organism: LoadedModel,
    organism: LoadedModel,
    offloaded_in_use: list[int],
    mode: PatchMode,
    positions: PatchPositions,
):
    questions = sample_questions(7, 8, HELD_OUT_SPLIT)
    prompt_pairs = build_pairs(questions, counterfactual_challenge=ORGANISM_ALIGNED)
    config = DiagnoseConfig(mode=mode, positions=positions)
    frames = []
    for model in (dispatched_organism, organism):
        pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
        labels = resolve_label_tokens(model.chat, prompt_pairs[0].reference)
        scores = diagnose_heads(model, pairs, labels, config, show_progress=False)
        frames.append(scores.frame.sort_values(["layer", "head"]))
    for column in ("f_change", "logit_diff_change"):
        np.testing.assert_allclose(frames[0][column], frames[1][column], atol=ATOL, rtol=0)
    assert offloaded_in_use[0] == 1  # one offloaded module's weights at a time
    assert len(_offloaded(dispatched_organism)) == 20


def test_knockout_curve_and_attention_equal_the_whole_models(
    dispatched_organism: LoadedModel, organism: LoadedModel, organism_ranking: Path
):
    curves, shares = [], []
    for model in (dispatched_organism, organism):
        result = api.knockout(model, organism_ranking, n=8, ks=(1, 3), n_random=1,
                              show_progress=False)  # fmt: skip
        curves.append(result.frame.select_dtypes("number"))
        attention = api.attention(model, organism_ranking, n=6, show_progress=False)
        shares.append(attention.comparison.frame["mean_share"])
    np.testing.assert_allclose(curves[0], curves[1], atol=ATOL, rtol=0)
    np.testing.assert_allclose(shares[0], shares[1], atol=ATOL, rtol=0)


def test_generated_replies_equal_the_whole_models(
    dispatched_organism: LoadedModel, organism: LoadedModel
):
    questions = sample_questions(3, 4, HELD_OUT_SPLIT)
    chats = [challenged_chat(question, REFERENCE_CHALLENGE) for question in questions]
    replies = [generate_replies(model, chats, max_new_tokens=10, batch_size=2)
               for model in (dispatched_organism, organism)]  # fmt: skip
    assert replies[0] == replies[1]


def test_the_door_records_the_map_in_its_output(
    organism_ranking: Path, half_on_disk_map: Path, tmp_path: Path
):
    out = tmp_path / "ko.json"
    ablate.main(["--model", "organism-mha", "--heads", str(organism_ranking), "--ks", "1",
                 "--n-random", "1", "--n-questions", "4", "--device-map", str(half_on_disk_map),
                 "--offload-dir", str(tmp_path / "offload"), "--out", str(out)])  # fmt: skip
    document = json.loads(out.read_text())
    jsonschema.validate(document, schema_for(document))
    assert document["model"]["device_map"] == HALF_ON_DISK


def test_deltas_reach_offloaded_weights(
    fresh_model: Callable[..., LoadedModel], half_on_disk_map: Path, tmp_path: Path
):
    whole = fresh_model("organism-mha")
    dispatched = fresh_model("organism-mha", device_map=str(half_on_disk_map),
                             offload_dir=tmp_path / "offload")  # fmt: skip
    on_disk = "model.layers.3.self_attn.q_proj.weight"
    deltas = {f"{on_disk}[0:16:32]": torch.randn(16, 64), "model.norm.weight": torch.randn(64)}
    save_deltas(tmp_path / "deltas.safetensors", deltas, whole)
    for model in (whole, dispatched):
        apply_deltas(model, tmp_path / "deltas.safetensors")
    torch.testing.assert_close(stored_tensor(dispatched.hf_model, on_disk),
                               stored_tensor(whole.hf_model, on_disk))  # fmt: skip
    assert weights_fingerprint(dispatched) == weights_fingerprint(whole)
    tokens = torch.tensor([[1, 5, 9, 14, 20, 33]])
    with torch.no_grad():
        logits = [model.hf_model(input_ids=tokens).logits for model in (dispatched, whole)]
    torch.testing.assert_close(logits[0], logits[1], atol=ATOL, rtol=0)
    assert count_changed_elements(dispatched, whole) == 0
    assert len(_offloaded(dispatched)) == 20  # the deltas left every placeholder in place


def test_auto_fills_memory_then_disk_without_splitting_a_layer(tmp_path: Path):
    checkpoint = resolve_checkpoint("organism-mha")
    assert plan_device_map(checkpoint, torch.float32, "auto", None) == {"": "cpu"}
    small: dict[int | str, int | str] = {
        "cpu": 600_000
    }  # bytes: the embedding and one layer of 1.1 MB of weights
    planned = plan_device_map(checkpoint, torch.float32, "auto", tmp_path, max_memory=small)
    assert planned["model.layers.0"] == "cpu" and planned["model.layers.3"] == "disk"
    assert all(name.count(".") <= 2 for name in planned)  # decoder layers whole
    with pytest.raises(
        ValueError,
        match=r"--device-map auto \(the model outgrows memory\) places 'lm_head', "
        r"'model\.layers\.1', 'model\.layers\.2', \.\.\. on disk, but no --offload-dir",
    ):
        plan_device_map(checkpoint, torch.float32, "auto", None, max_memory=small)


def test_a_dispatched_model_is_not_tuned(dispatched_organism: LoadedModel, tmp_path: Path):
    message = r"a model dispatched by a device map keeps its offloaded weights .* Fix: load it "
    with pytest.raises(ValueError, match=message):
        TuneJob(model=ModelSpec(name="organism-mha", device_map="auto"), out=tmp_path)
    with pytest.raises(ValueError, match=message):
        tune_model(dispatched_organism, TuneJob(model=ModelSpec(name="organism-mha"), out=tmp_path))


def test_a_placeholder_without_an_offloaded_copy_is_named():
    with pytest.raises(ValueError, match=r"weight is a meta tensor with no offloaded copy"):
        stored_tensor(torch.nn.Linear(2, 2, device="meta"), "weight")
    assert model_skeleton(resolve_checkpoint("organism-mha"), torch.float32).device.type == "meta"
