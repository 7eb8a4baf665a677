#!/usr/bin/env python3
"""Turns run.sh's results (TSV: scenario, agent, round, metric, value) into
Markdown tables: each agent's value per round, the mean, and Sentinel /
vmagent as the ratio of the means and per A-B pair (round by round).

    summarize.py RESULTS.tsv
"""
import collections
import sys

rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    scen, agent, rnd, metric, value = line.rstrip("\n").split("\t")
    rows.setdefault((scen, metric), {}).setdefault(agent, []).append(
        (int(rnd), float(value)))


def fmt(v):
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 0.1:
        return f"{v:.2f}"
    return f"{v:.3g}"


current = None
for (scen, metric), by_agent in rows.items():
    if scen != current:
        current = scen
        print(f"\n### {scen}\n")
        print("| metric | sentinel (per round) | sentinel mean | vmagent (per round) "
              "| vmagent mean | ratio of means | ratio per A-B pair |")
        print("|---|---|---|---|---|---|---|")
    s = sorted(by_agent.get("sentinel", []))
    v = sorted(by_agent.get("vmagent", []))
    sm = sum(x for _, x in s) / len(s) if s else None
    vm = sum(x for _, x in v) / len(v) if v else None
    ratio = fmt(sm / vm) if sm is not None and vm else "-"
    pairs = dict(v)
    per = [fmt(x / pairs[r]) for r, x in s if pairs.get(r)]
    print(f"| {metric} | {' / '.join(fmt(x) for _, x in s) or '-'} | "
          f"{fmt(sm) if sm is not None else '-'} | "
          f"{' / '.join(fmt(x) for _, x in v) or '-'} | "
          f"{fmt(vm) if vm is not None else '-'} | {ratio} | {' / '.join(per) or '-'} |")
