#!/usr/bin/env python3
"""Copies bench/results/latest.md into README.md between the benchmark markers."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main():
    with open(os.path.join(REPO, "bench/results/latest.md")) as f:
        results = f.read().split("\n", 1)[1].strip()   # drop the page title
    results = results.replace("## ", "#### ")
    path = os.path.join(REPO, "README.md")
    with open(path) as f:
        readme = f.read()
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    chart = "![Ratios to the baselines measured in the same run](bench/results/latest.png)"
    with open(path, "w") as f:
        f.write(f"{before}{START}\n{results}\n\n{chart}\n{END}{after}")


if __name__ == "__main__":
    main()
