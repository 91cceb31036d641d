"""Reports under a non-standard evaluation protocol: the printed summary and the
experiment report's table_protocol.md say which protocol produced each number."""

from __future__ import annotations

import os

from mtl_tf.evaluation import reports
from mtl_tf.evaluation.protocol import Protocol
from mtl_tf.evaluation.summary import format_summary
from tests.test_reports import _metrics, _model, _robustness

PROTOCOL = Protocol(vib_prediction="sample", attack_ce="clipped_softmax")


def _with_protocol(base: float) -> dict:
    model = _model("mtvib", base)
    model["robustness"]["protocol"] = Protocol().describe()
    extra = _robustness(base - 0.2)
    extra["protocol"] = PROTOCOL.describe()
    extra["zero_gradient_fraction"] = {"tasks": {"top_left": 0.25, "bottom_right": 0.5},
                                       "pair": 0.125}
    model["robustness_protocol"] = extra
    metrics = _metrics("mtvib", [model], model, model["robustness"])
    metrics["robustness_protocol"] = extra
    return metrics


def test_summary_prints_each_protocol_and_its_zero_gradient_fractions():
    text = format_summary(_with_protocol(0.9))
    assert "fgsm [standard] eta 0: 90.0%/89.0%" in text
    assert "fgsm [vib-sample+clipped_softmax] eta 0: 70.0%/69.0%" in text
    assert "zero input gradient (never perturbed): top_left 25.0%, bottom_right 50.0%, " \
           "pair 12.5%" in text


def test_report_writes_the_protocol_table_beside_the_standard_one(tmp_path):
    runs = {"mtvib": _with_protocol(0.9)}
    written = reports.write_report(runs, str(tmp_path))
    standard = open(written["table.md"]).read()
    other = open(written["table_protocol.md"]).read()
    assert "| top_left | 0.3 | 60.0 |" in standard  # 0.9 - 0.3
    assert "| top_left | 0.3 | 40.0 |" in other  # the protocol's numbers
    assert "standard protocol" in standard
    assert "vib-sample+clipped_softmax protocol" in other
    assert "table_protocol.md" in open(os.path.join(tmp_path, "README.md")).read()
    # Without another protocol there is no second table.
    plain = _metrics("mtvib", [_model("mtvib", 0.9)], _model("mtvib", 0.9),
                     _robustness(0.9))
    assert "table_protocol.md" not in reports.write_report({"mtvib": plain},
                                                           str(tmp_path / "plain"))
    assert reports.protocol_view({"mtvib": plain}) is None
