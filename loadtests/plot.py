"""Latency against load from a load-test CSV: p50 and p99 against throughput for each path (closed loop, the C#
driver, 16/64/256 connections), one PNG next to the CSV.  Usage: python3 loadtests/plot.py loadtests/results/loadtest-DATE.csv"""
import csv, statistics, sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

path = sys.argv[1]
cells = defaultdict(list)
with open(path) as f:
    for row in csv.DictReader(f):
        if row["mode"] == "closed" and row["generator"] == "loadkit":
            cells[(row["path"], int(row["concurrency"]))].append(row)

def med(rows, key):
    return statistics.median(float(r[key]) for r in rows)

fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=False)
for name in ["direct", "yarp-http", "yarp-mtls", "nginx-http", "nginx-mtls", "nginx-loopback", "nginx-unix",
             "secretless", "secretless-sigv4", "ours-loopback", "ours-unix", "secretless-redis-l1", "secretless-redis-only"]:
    points = sorted((c, rows) for (p, c), rows in cells.items() if p == name)
    if not points:
        continue
    rps = [med(rows, "rps") for _, rows in points]
    style = "-" if name.startswith(("secretless", "ours-")) else "--"
    width = 2.2 if name == "secretless" else 1.2
    for ax, key in zip(axes, ["p50_us", "p99_us"]):
        ax.plot(rps, [med(rows, key) / 1000 for _, rows in points], style, marker="o", linewidth=width, label=name)
        for (c, rows), x in zip(points, rps):
            if name in ("secretless", "nginx-mtls"):
                ax.annotate(str(c), (x, med(rows, key) / 1000), fontsize=7, xytext=(3, 3), textcoords="offset points")
for ax, title in zip(axes, ["p50", "p99"]):
    ax.set_title(f"{title} latency against throughput (16 / 64 / 256 connections)")
    ax.set_xlabel("requests per second")
    ax.set_ylabel(f"{title} latency, ms (log)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
axes[1].legend(fontsize=8, loc="center right")
fig.tight_layout()
out = path.replace("loadtest-", "latency-vs-load-").replace(".csv", ".png")
fig.savefig(out, dpi=110)
print("plot:", out)
