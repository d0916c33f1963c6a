"""Walks a CLI11 program's --help: every command path, and every option each prints."""
import re
import subprocess


def help_text(program, words):
    out = subprocess.run([program, *words, "--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise SystemExit(f"{program} {' '.join(words)} --help exited {out.returncode}: {out.stderr}")
    return out.stdout


def section(text, title):
    lines, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            inside = line == title + ":"
            continue
        if inside and line.strip():
            lines.append(line)
    return lines


def walk(program, words=()):
    """Yields (words, help text) for every command, groups included."""
    text = help_text(program, list(words))
    yield list(words), text
    for line in section(text, "Subcommands"):
        if line.startswith("  ") and not line.startswith("   "):
            name = line.split()[0]
            yield from walk(program, (*words, name))


def options(text):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", "\n".join(section(text, "Options"))))
