#!/usr/bin/env python3
"""The man pages stay in step with the CLIs (ctest man_pages.*).

The pages are help2man's rendering of each tool's --help plus the hand-written
packaging/TOOL.h2m, whose [COMMANDS] section lists every command. This fails
when a command of the program is missing from that list, when the list names
a command that does not exist, and when the .h2m names an option that no
--help of the program prints (or, on a command's line, one that command does
not take). With --help2man it also renders the page as the package does and
checks that every command is on it.

  check_man_pages.py PROGRAM H2M [--help2man HELP2MAN]
"""
import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cli_tree  # noqa: E402

COMMAND_LINE = re.compile(r"^\\fB([a-z0-9][a-z0-9 -]*?)\\fR")


def man_options(text):
    """Options as a man page spells them (\\-\\-name) or plainly (--name)."""
    plain = re.sub(r"\\f[BIRP]", " ", text).replace("\\-", "-")
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", plain))


def h2m_commands(h2m):
    """[COMMANDS]: the word after each .TP, with the text of its entry."""
    body = h2m.split("[COMMANDS]", 1)
    if len(body) < 2:
        return None
    body = re.split(r"^\[", body[1], maxsplit=1, flags=re.M)[0]
    commands = {}
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == ".TP" and i + 1 < len(lines):
            m = COMMAND_LINE.match(lines[i + 1])
            if not m:
                raise SystemExit(f"[COMMANDS]: no \\fBcommand\\fR after .TP: {lines[i + 1]!r}")
            entry = []
            for rest in lines[i + 1:]:
                if rest.strip() == ".TP":
                    break
                entry.append(rest)
            commands[m.group(1)] = "\n".join(entry)
    return commands


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("program")
    parser.add_argument("h2m")
    parser.add_argument("--help2man")
    args = parser.parse_args()
    name = Path(args.program).name
    h2m_path = Path(args.h2m)
    h2m = h2m_path.read_text()

    tree = list(cli_tree.walk(args.program))
    actual = {" ".join(words): text for words, text in tree
              if words and not cli_tree.section(text, "Subcommands")}
    all_options = set().union(*(cli_tree.options(text) for _, text in tree))

    problems = []
    listed = h2m_commands(h2m)
    if listed is None:
        problems.append(f"{h2m_path.name} has no [COMMANDS] section")
        listed = {}
    for command in sorted(set(actual) - set(listed)):
        problems.append(f"{name} {command}: a command missing from {h2m_path.name} [COMMANDS]")
    for command in sorted(set(listed) - set(actual)):
        problems.append(f"{h2m_path.name} [COMMANDS] names '{command}', which {name} does not have")
    for option in sorted(man_options(h2m) - all_options):
        problems.append(f"{h2m_path.name} names {option}, which no '{name} ... --help' prints")
    for command, entry in listed.items():
        if command in actual:
            for option in sorted(man_options(entry) - cli_tree.options(actual[command])):
                problems.append(f"{h2m_path.name}: '{command}' does not take {option}")

    if args.help2man:
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / f"{name}.1"
            subprocess.run([args.help2man, "--no-info", "--no-discard-stderr", "--section=1",
                            "--version-string=0", f"--name={name}", f"--include={h2m_path}",
                            f"--output={page}", args.program], check=True, timeout=60)
            rendered = page.read_text()
        for command in sorted(actual):
            if f"\\fB{command}\\fR" not in rendered:
                problems.append(f"{name} {command}: not on the page help2man renders")

    for p in problems:
        print(f"check_man_pages: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_man_pages: {name}: {len(actual)} commands, {len(all_options)} options, in step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
