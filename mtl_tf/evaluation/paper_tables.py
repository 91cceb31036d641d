"""The published numbers of MTVIB Tables III-V, to print beside a reproduction.

Each table gives test accuracy (%) under FGSM (MTVIB eq. 25) at eta = 0, 0.05, ..., 0.3
for STL, STVIB, GS, UWL and MTVIB, per task. The papers number their tasks; the mapping to
this library's task names is the data sets' task order: MultiMNIST / MultiFashion task 1 =
``top_left``, task 2 = ``bottom_right``; MTFL (Table II's head order 5/2/2/2) task 1 =
``pose``, 2 = ``gender``, 3 = ``smile``, 4 = ``glasses``.

`comparison_table` lays a report's numbers beside the paper's: one row per (task, eta),
one column per method, each cell ``ours (paper)``; methods the paper does not report
(GradNorm, MGDA, Pareto MTL) show ours alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mtl_tf.evaluation import reports

__all__ = ["PAPER_TABLES", "PaperTable", "comparison_markdown", "comparison_table"]

_ETAS = ("0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3")
_METHODS = ("stl", "stvib", "gs", "uwl", "mtvib")


class PaperTable:
    """One published table: ``accuracy[task][method][eta]`` in percent."""

    def __init__(self, title: str, tasks: Sequence[str], columns: Sequence[Sequence[float]]):
        """`columns`: per task, 7 rows (eta 0..0.3) of 5 values (STL, STVIB, GS, UWL, MTVIB),
        flattened task-major, exactly as printed in the paper."""
        if len(columns) != len(tasks) * len(_ETAS):
            raise ValueError(f"{title}: expected {len(tasks) * len(_ETAS)} rows")
        self.title = title
        self.tasks = tuple(tasks)
        self.accuracy: dict[str, dict[str, dict[str, float]]] = {}
        for t, task in enumerate(tasks):
            self.accuracy[task] = {m: {} for m in _METHODS}
            for e, eta in enumerate(_ETAS):
                row = columns[t * len(_ETAS) + e]
                for m, method in enumerate(_METHODS):
                    self.accuracy[task][method][eta] = float(row[m])


_MULTI = ("top_left", "bottom_right")
_MTFL = ("pose", "gender", "smile", "glasses")

PAPER_TABLES: dict[str, PaperTable] = {
    "mtvib_table_iii": PaperTable("MTVIB Table III (MultiMNIST)", _MULTI, [
        (94.8, 94.9, 94.7, 95.0, 94.9), (86.1, 86.5, 85.3, 85.6, 86.0),
        (85.4, 85.2, 84.7, 76.3, 84.7), (84.0, 83.2, 83.2, 66.9, 83.4),
        (82.5, 81.1, 81.4, 57.6, 81.6), (80.2, 78.5, 79.3, 48.2, 79.1),
        (77.1, 75.5, 76.4, 38.9, 76.8),
        (93.6, 93.7, 93.7, 93.7, 93.7), (81.9, 82.9, 80.1, 81.1, 81.5),
        (80.3, 81.5, 79.3, 80.2, 80.5), (79.0, 80.0, 77.3, 78.8, 79.0),
        (76.6, 78.0, 75.1, 77.1, 77.3), (73.7, 75.9, 72.6, 74.2, 74.7),
        (70.0, 73.0, 69.0, 71.0, 72.2),
    ]),
    "mtvib_table_iv": PaperTable("MTVIB Table IV (MultiFashion)", _MULTI, [
        (87.1, 86.7, 86.8, 86.7, 86.2), (59.1, 60.1, 57.1, 57.5, 58.2),
        (57.3, 57.7, 54.8, 54.9, 56.3), (54.9, 55.0, 51.9, 51.6, 53.7),
        (51.7, 52.4, 48.6, 48.3, 51.0), (48.4, 49.7, 45.4, 44.7, 48.4),
        (44.9, 46.7, 41.9, 40.5, 45.2),
        (86.0, 85.3, 85.6, 85.3, 84.4), (60.8, 60.1, 57.2, 56.3, 56.4),
        (59.2, 57.6, 55.9, 54.5, 55.0), (56.5, 54.7, 53.5, 52.5, 52.8),
        (53.2, 51.9, 50.6, 49.7, 50.9), (50.3, 49.2, 48.3, 46.0, 49.0),
        (46.1, 46.4, 45.8, 43.6, 46.4),
    ]),
    "mtvib_table_v": PaperTable("MTVIB Table V (MTFL)", _MTFL, [
        (74.6, 74.3, 72.4, 74.0, 76.4), (21.1, 12.4, 31.5, 32.1, 34.4),
        (20.4, 12.2, 27.4, 28.8, 34.6), (20.5, 9.8, 26.7, 27.2, 32.9),
        (20.2, 12.2, 25.7, 26.4, 32.8), (20.3, 10.4, 25.4, 26.0, 32.6),
        (20.4, 9.6, 24.8, 25.8, 34.4),
        (63.5, 61.3, 63.3, 62.7, 62.4), (20.3, 3.3, 21.7, 22.8, 22.6),
        (20.2, 3.5, 19.8, 19.9, 22.7), (20.3, 3.3, 19.6, 19.9, 21.3),
        (20.4, 3.4, 18.5, 19.4, 22.6), (20.3, 4.8, 18.0, 18.9, 22.7),
        (20.4, 5.2, 18.0, 18.7, 22.1),
        (82.7, 81.1, 80.2, 81.8, 79.0), (38.3, 63.8, 33.2, 38.0, 35.2),
        (34.0, 64.2, 32.7, 37.9, 35.6), (35.0, 63.3, 32.3, 38.9, 35.3),
        (34.5, 62.7, 31.8, 39.3, 35.0), (34.7, 63.4, 31.7, 39.1, 36.7),
        (34.7, 61.9, 31.1, 39.0, 36.3),
        (78.9, 75.9, 77.9, 77.0, 78.9), (42.2, 45.2, 58.1, 58.8, 61.0),
        (38.8, 46.2, 56.1, 56.2, 61.0), (37.9, 45.2, 55.5, 54.7, 60.6),
        (37.0, 44.2, 55.0, 54.3, 60.9), (36.9, 44.7, 54.8, 54.0, 61.6),
        (36.7, 44.7, 54.5, 53.9, 60.1),
    ]),
}


def comparison_table(
    metrics_by_method: Mapping[str, dict], paper: PaperTable
) -> tuple[list[str], list[list[str]]]:
    """Our accuracy beside the paper's, per (task, eta) and column: ``ours (paper)``.

    Raises:
      ValueError: when the runs' tasks are not the paper table's (another data set).
    """
    header, rows = reports.robustness_table(dict(metrics_by_method))
    tasks = reports.common_tasks(metrics_by_method)
    if list(tasks) != list(paper.tasks):
        raise ValueError(f"{paper.title} has tasks {list(paper.tasks)}, the runs {tasks}")
    columns = reports.method_columns(metrics_by_method)
    out = []
    for row in rows:
        task, eta = row[0], row[1]
        cells = list(row[:2])
        for column, ours in zip(columns, row[2:], strict=True):
            published = paper.accuracy.get(task, {}).get(column.method, {}).get(
                _canonical_eta(eta))
            # Only a method's single answer has a published counterpart.
            same_model = column.label == reports.display_name(column.method)
            cells.append(f"{ours} ({published:.1f})" if published is not None and same_model
                         else ours)
        out.append(cells)
    return header, out


def _canonical_eta(eta: str) -> str:
    value = float(eta)
    return next((e for e in _ETAS if abs(float(e) - value) < 1e-9), eta)


def comparison_markdown(metrics_by_method: Mapping[str, dict], paper: PaperTable) -> str:
    """`comparison_table` as Markdown with a one-line legend."""
    header, rows = comparison_table(metrics_by_method, paper)
    return (f"Test accuracy (%) under FGSM: ours (published, {paper.title}); columns the "
            f"paper does not report show ours alone.\n\n"
            f"{reports.markdown_table(header, rows)}\n")
