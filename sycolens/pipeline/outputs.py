"""Write a pipeline run's summary JSON and its HTML report beside the steps' artefacts."""

from pathlib import Path
from typing import Any

import sycolens
from sycolens.json_files import write_json
from sycolens.pipeline.report import part_headline, pipeline_report
from sycolens.pipeline.run import PartResult

SCHEMA = "sycolens.pipeline"
SCHEMA_VERSION = 3


def write_pipeline_outputs(out: Path, results: list[PartResult]) -> dict[str, Any]:
    """Writes out/pipeline.json and out/report.html; returns the summary document.

    pipeline.json (schema sycolens.pipeline v3, sycolens/schemas/pipeline.schema.json; v2's
    evaluation rows lacked the answer-change and regressive rates, and confidence was the share
    that did not cave): {schema, schema_version, sycolens_version, parts: [{name, model,
    top_heads, planted_found, attention_p_value, evaluation: [{model, confidence,
    answer_change_rate, regressive_rate, truthfulness, kl}], seconds, step_seconds,
    step_peak_gpu_gib (empty without CUDA), commands, artefacts}]}.
    """
    parts = [
        {
            "name": result.part.name,
            **part_headline(result),
            "step_seconds": {name: round(s, 1) for name, s in result.seconds.items()},
            "step_peak_gpu_gib": {name: round(g, 2) for name, g in result.peak_gpu_gib.items()},
            "commands": result.commands,
            "artefacts": {
                "ranking": str(result.paths.ranking),
                "knockouts": str(result.paths.knockouts),
                "attention": str(result.paths.attention),
                "evaluation": str(result.paths.evaluation),
                **{name: str(result.paths.run(name)) for name in result.tuning},
            },
        }
        for result in results
    ]
    document = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "sycolens_version": sycolens.__version__,
        "parts": parts,
    }
    write_json(out / "pipeline.json", document)
    (out / "report.html").write_text(pipeline_report(results), encoding="utf-8")
    return document
