"""Interactive attention views (circuitsvis `attention_heads`) of chosen heads on chosen prompts.

In a notebook, `attention_view` returns circuitsvis's object, which renders inline. For files,
its `local_src` embeds circuitsvis's JavaScript bundle (not the CDN), and `views_page` joins
such sections into one standalone page that opens offline.
"""

import html
import re
from collections.abc import Sequence
from pathlib import Path

import circuitsvis
import torch
from circuitsvis.attention import attention_heads
from circuitsvis.utils.render import RenderedHTML

from sycolens.attention.patterns import answer_patterns
from sycolens.heads import Head
from sycolens.models.head_access import HeadLayout
from sycolens.models.load import LoadedModel
from sycolens.prompts.chat import Message

_SELF_CLOSED_VIEW = re.compile(r'(<div id="circuits-vis-[^"]+"[^>]*?)\s*/>')


def attention_view(
    model: LoadedModel, chat: Sequence[Message], heads: Sequence[Head]
) -> RenderedHTML:
    """Returns the attention patterns of `heads` on `chat`, one panel per head."""
    if not heads:
        raise ValueError("No heads to show. Fix: pass at least one (layer, head).")
    layout = HeadLayout.of(model.hf_model)
    for head in heads:
        layout.check_head(head)
    patterns = answer_patterns(model, chat, sorted({head.layer for head in heads}))
    stacked = torch.stack([patterns[head.layer][head.head] for head in heads])
    ids = model.chat.tokenize(chat)
    tokens = [str(model.tokenizer.decode([token])) for token in ids]
    names = [f"L{head.layer}H{head.head}" for head in heads]
    return attention_heads(attention=stacked, tokens=tokens, attention_head_names=names)


def views_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """Returns a standalone HTML page of (heading, HTML body) sections."""
    kept = drop_repeated_bundles(sections)
    body = "".join(f"<h3>{html.escape(heading)}</h3>{content}" for heading, content in kept)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h2>{html.escape(title)}</h2>{body}</body></html>"
    )


def drop_repeated_bundles(sections: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Returns the sections with circuitsvis's JavaScript bundle kept in the first view only.

    Every circuitsvis view embeds the same ~1.3 MB bundle in a module script. A module's `var`
    is not global, so the first view publishes `window.CircuitsVis`; module scripts run in
    document order, so the later views find it. Each view's `<div .../>` is closed too: HTML
    does not self-close a div, so the next view would nest inside it and be wiped when the
    first one draws.
    """
    bundle = _circuitsvis_bundle()
    kept: list[tuple[str, str]] = []
    seen = False
    for heading, content in sections:
        content = _SELF_CLOSED_VIEW.sub(r"\1></div>", content)
        if bundle in content:
            shared = f"{bundle};window.CircuitsVis=CircuitsVis;"
            content = content.replace(bundle, "" if seen else shared)
            seen = True
        kept.append((heading, content))
    return kept


def _circuitsvis_bundle() -> str:
    """Returns the JavaScript circuitsvis inlines into each view, as it inlines it."""
    path = Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js"
    return path.read_text(encoding="utf-8").replace("</script>", "")
