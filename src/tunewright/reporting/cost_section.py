"""The report's cost section: the scenarios' lifecycle cost, memory and fit, as escaped HTML.

The rows, notes and plots are the cost CLI's own (:mod:`tunewright.cost.render`), so the report and
``tunewright cost`` show the same figures.
"""

from __future__ import annotations

import html

from tunewright.cost.hardware import GIB
from tunewright.cost.render import SCENARIO_HEADER, fits_lines, memory_plot, scenario_plot, scenario_rows, span_text


def cost_html(cost: dict | None) -> list[str]:
    """The report's cost section (escaped). ``cost`` is estimate_scenarios' output, or {'error': ...}."""
    if not cost:
        return []
    e = html.escape
    if "error" in cost:
        return ["<h2>Cost</h2>", f"<p class='warn'>Cost estimate unavailable: {e(cost['error'])}</p>"]
    results = cost["scenarios"]
    est = results[0]["estimate"]
    cats = list(est["lifecycle"]["categories_usd"])
    head = "".join(f"<th>{e(r['name'])}</th>" for r in results)
    rows = "".join("<tr><td>" + e(c) + "</td>" + "".join(
        f"<td>{e(span_text(r['estimate']['lifecycle']['categories_usd'][c]))}</td>" for r in results) + "</tr>"
        for c in cats)
    rows += "<tr><td><b>total</b></td>" + "".join(
        f"<td><b>{e(span_text(r['estimate']['lifecycle']['total_usd']))}</b></td>" for r in results) + "</tr>"
    mem = "".join(f"<tr><td>{e(k)}</td><td>{v / GIB:.2f}</td></tr>" for k, v in est["memory"]["lines_bytes"].items())
    notes = "".join(f"<li>{e(n)}</li>" for n in [*fits_lines(est), *est["lifecycle"]["notes"]])
    return [
        "<h2>Cost (estimate)</h2>",
        f"<p>GPU prices as of <b>{e(est['prices_as_of'])}</b>; every figure is expected [low - high], USD.</p>",
        f"<table><tr><th>category</th>{head}</tr>{rows}</table>",
        "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in SCENARIO_HEADER) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in scenario_rows(results)) + "</table>",
        f'<img alt="lifecycle cost" src="data:image/png;base64,{scenario_plot(results)}">',
        f"<h3>GPU memory per GPU on {e(est['gpu'])}</h3><table><tr><th>category</th><th>GiB</th></tr>{mem}</table>",
        f'<img alt="memory breakdown" src="data:image/png;base64,{memory_plot(est)}">',
        f"<ul>{notes}</ul>",
    ]


def report_cost_section(cfg) -> dict:
    """What build_report stores under 'cost': the scenarios estimate, or the reason there is none."""
    from tunewright.cost.estimate import estimate_scenarios

    try:
        return estimate_scenarios(cfg)
    except Exception as err:  # noqa: BLE001 - a cost problem must not stop the report; it is shown instead
        return {"error": f"{type(err).__name__}: {err}"}
