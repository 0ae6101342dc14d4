#!/usr/bin/env python3
"""A knowledge folder for the benchmarks: markdown notes with front matter.

    bench/kb/corpus.py DIR --files 10000 [--seed 1]

Realistic in the ways that matter to an index: sizes are log-normal around 5 KB
(10,000 files are about 50 MB), words follow Zipf's law over a 60,000-word
vocabulary (a few words are in nearly every note, most in a handful), notes sit
in agent folders, some nested, with headings, links, lists and code, and the
front matter names a title, category, creator, confidence and tags. The same
seed gives the same tree. Prints a JSON line with what it wrote and the query
words the benchmarks use: frequent, middling and rare.
"""
import argparse
import json
import math
import os
import random

COMMON = (
    "the of and to in is that for it as with was on be by this are from at or an "
    "which not have but all can has one more they will their other some when were "
    "there also about into these many would time may use used first been only new "
    "data model service server agent file system memory process user value note"
).split()
SYL = "ka lo mi ne ru sa te vi zo pa qu re di fo gu hy ja ke li mo nu po ra si tu va xe yo ze".split()
AGENTS = [
    "research", "writer", "coder", "ops", "planner", "reviewer", "analyst", "tutor",
    "translator", "designer", "tester", "archivist", "scout", "curator", "editor",
    "mentor", "auditor", "builder", "critic", "librarian",
]
CATEGORIES = ["engineering", "writing", "operations", "research", "teaching"]


def vocabulary(rng, n):
    words, seen = list(COMMON), set(COMMON)
    while len(words) < n:
        w = "".join(rng.choice(SYL) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    words = vocabulary(rng, 60000)
    weights = [1.0 / (i + 1) ** 1.07 for i in range(len(words))]
    cum, t = [], 0.0
    for w in weights:
        t += w
        cum.append(t)
    creators = [{"id": f"c{i:03d}", "name": f"Creator {i}", "platform": rng.choice(["youtube", "blog", "podcast"]),
                 "url": f"https://example.org/c{i:03d}", "topics": rng.sample(words[200:2000], 3)} for i in range(60)]
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "creators.json"), "w") as f:
        json.dump(creators, f, indent=1)
    for agent in AGENTS:
        os.makedirs(os.path.join(a.dir, agent, "notes"), exist_ok=True)
        with open(os.path.join(a.dir, agent, "_agent.yaml"), "w") as f:
            f.write(f"level: {rng.choice(['junior', 'senior', 'expert'])}\ncategory: {rng.choice(CATEGORIES)}\n")
    total = 0
    for i in range(a.files):
        agent = AGENTS[int(rng.paretovariate(1.2)) % len(AGENTS)]
        size = int(min(200_000, max(300, rng.lognormvariate(math.log(4400), 0.7))))
        n = max(40, size // 7)
        body = rng.choices(words, cum_weights=cum, k=n)
        out, pos = [], 0
        while pos < n:
            kind = rng.random()
            if kind < 0.12:
                out.append("#" * rng.randint(1, 3) + " " + " ".join(body[pos:pos + 4]).capitalize())
                pos += 4
            elif kind < 0.2:
                out.append("\n".join(f"- {' '.join(body[j:j + 6])}" for j in range(pos, min(n, pos + 24), 6)))
                pos += 24
            elif kind < 0.24:
                out.append("```\n" + " ".join(body[pos:pos + 10]) + "\n```")
                pos += 10
            else:
                k = rng.randint(30, 90)
                para = " ".join(body[pos:pos + k]).capitalize() + "."
                if rng.random() < 0.3:
                    para += f" See [{body[pos]}](https://example.org/{body[pos]}) and [[{body[min(n - 1, pos + 1)]}]]."
                out.append(para)
                pos += k
        tags = rng.sample(words[100:400], rng.randint(0, 4))
        fm = [
            "---",
            f"title: {' '.join(body[:5]).capitalize()} {i}",
            f"category: {rng.choice(CATEGORIES)}" if rng.random() < 0.3 else None,
            f"creator: {rng.choice(creators)['id']}" if rng.random() < 0.5 else None,
            f"confidence: {rng.random():.2f}",
            f"tags: [{', '.join(tags)}]",
            "---",
        ]
        text = "\n".join(x for x in fm if x) + "\n\n" + "\n\n".join(out) + "\n"
        sub = "notes" if i % 3 == 0 else ""
        path = os.path.join(a.dir, agent, sub, f"note-{i:06d}.md")
        with open(path, "w") as f:
            f.write(text)
        total += len(text.encode())
    print(json.dumps({
        "files": a.files, "bytes": total, "agents": len(AGENTS), "creators": len(creators),
        # Query words by how many notes hold them: nearly all, about a tenth, a handful.
        "frequent": words[10:20], "middling": words[300:310], "rare": words[20000:20010],
    }))


if __name__ == "__main__":
    main()
