#!/usr/bin/env python3
"""The repository stands alone and its documents point where they say.

Checks, over the files git tracks (or every file under the root when git is unavailable):
1. no file refers to anything outside the repository (a path into the parent folder's shared
   documents, or a document that lives only beside the repository; OUTSIDE below);
2. every relative link in a Markdown file ([text](path), images included) names a file or
   folder that exists;
3. every citation "docs/DESIGN.md §N" or "DESIGN.md §N.M" names a section heading that
   docs/DESIGN.md has, and none uses the old form "DESIGN.md section N".
Exit status 0 when all hold; otherwise one line per violation and exit status 1.
"""
import argparse
import os
import re
import subprocess
import sys

OUTSIDE = re.compile(r"\.\./shared|shared/(DESIGN|STYLE)\.md")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CITATION = re.compile(r"DESIGN\.md\s+§(\d+(?:\.\d+)?)")
OLD_CITATION = re.compile(r"DESIGN\.md\s+sections?\s+\d")
HEADING = re.compile(r"^#+\s+§(\d+(?:\.\d+)?)\b", re.MULTILINE)
TEXT_SUFFIXES = (".md", ".h", ".hpp", ".cpp", ".cu", ".cuh", ".py", ".sh", ".txt", ".toml",
                 ".cmake", ".sbatch", ".csv", ".yml", ".yaml", ".cfg", "")


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")]
        files += [os.path.relpath(os.path.join(folder, n), root) for n in names]
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="repository root")
    root = ap.parse_args().root
    me = os.path.relpath(os.path.abspath(__file__), os.path.abspath(root))
    problems = []
    design = open(os.path.join(root, "docs", "DESIGN.md"), encoding="utf-8").read()
    sections = set(HEADING.findall(design))
    if not {str(n) for n in range(1, 10)} <= sections:
        problems.append("docs/DESIGN.md: missing top-level sections; found " +
                        ", ".join(sorted(sections)))
    checked = 0
    for rel in tracked_files(root):
        path = os.path.join(root, rel)
        if rel == me or not os.path.isfile(path):
            continue
        if os.path.splitext(rel)[1] not in TEXT_SUFFIXES and rel != "README.md":
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except UnicodeDecodeError:
            continue  # binary (figures)
        checked += 1
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                problems.append(f"{rel}:{number}: refers outside the repository: {line.strip()}")
            if OLD_CITATION.search(line):
                problems.append(f"{rel}:{number}: cite sections as docs/DESIGN.md §N: "
                                f"{line.strip()}")
            for section in CITATION.findall(line):
                if section not in sections:
                    problems.append(f"{rel}:{number}: cites DESIGN.md §{section}, "
                                    "which docs/DESIGN.md does not have")
        if rel.endswith(".md"):
            for number, line in enumerate(text.splitlines(), 1):
                for target in LINK.findall(line):
                    if re.match(r"[a-z]+:", target) or target.startswith("#"):
                        continue  # a URL or an anchor in the same file
                    resolved = os.path.normpath(os.path.join(os.path.dirname(path),
                                                             target.split("#")[0]))
                    inside = os.path.abspath(resolved).startswith(os.path.abspath(root) + os.sep)
                    if not inside:
                        problems.append(f"{rel}:{number}: link leaves the repository: {target}")
                    elif not os.path.exists(resolved):
                        problems.append(f"{rel}:{number}: link to a missing file: {target}")
    for p in problems:
        print(p)
    print(f"checked {checked} files, {len(sections)} DESIGN.md sections: "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
