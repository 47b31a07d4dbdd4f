"""Each family's layout comes from TransformerLens's adapter, plus the traits table."""

from sycolens.models.architecture import architecture_of
from sycolens.models.tiny import build_tiny_model


def test_names_come_from_the_adapter_of_each_family():
    phi = architecture_of(build_tiny_model("phi", 400))
    assert (phi.output, phi.final_norm, phi.attention_output_norm) == (
        "dense",
        "model.final_layernorm",
        "",
    )
    gpt2 = architecture_of(build_tiny_model("gpt2", 400))
    assert (gpt2.layers_path, gpt2.fused_qkv, gpt2.query, gpt2.is_conv1d) == (
        "transformer.h",
        "c_attn",
        "",
        True,
    )
    gemma2 = architecture_of(build_tiny_model("gemma2", 400))
    assert gemma2.attention_output_norm == "post_attention_layernorm"
    assert gemma2.logit_softcap == 30.0


def test_a_model_built_in_memory_is_read_from_its_class():
    """qwen3_moe's config names no architecture until saved, and TransformerLens has no row
    for its model_type: the class names it."""
    model = build_tiny_model("qwen3_moe", 400)
    assert not model.config.architectures
    architecture = architecture_of(model)
    assert (architecture.query, architecture.output) == ("q_proj", "o_proj")


def test_scales_between_a_head_and_the_logits_come_from_the_config():
    granite = architecture_of(build_tiny_model("granite", 400))
    assert (granite.residual_scale, granite.logit_scale) == (0.22, 1 / 8)
    cohere = architecture_of(build_tiny_model("cohere", 400))
    assert cohere.logit_scale == 0.0625
