#!/usr/bin/env python3
"""Writes shoal.1 from shoal.1.in (the prose) and the binary's own --help output (every subcommand
and option, with defaults), so the man page cannot miss an option the binary has.

usage: gen-manpage.py SHOAL_BINARY TEMPLATE VERSION OUTPUT
"""
import re
import subprocess
import sys

TYPE_PREFIX = re.compile(r"^(TEXT|INT|UINT|FLOAT):(.+)$")


def run_help(shoal, *args):
    return subprocess.run([shoal, *args, "--help"], capture_output=True, text=True,
                          check=True).stdout


def roff(text):
    """Escapes text for roff: backslashes, minus signs, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def parse_help(text):
    """CLI11 help -> (description, usage, [(section, [[entry, description], ...])])."""
    lines = text.splitlines()
    i = 0
    desc = []
    while i < len(lines) and not lines[i].startswith("Usage:"):
        if lines[i].strip():
            desc.append(lines[i].strip())
        i += 1
    usage = lines[i][len("Usage:"):].split() if i < len(lines) else []
    sections = []
    for line in lines[i + 1:]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            sections.append((line.strip().rstrip(":"), []))
        elif re.match(r"^  \S", line):
            m = re.match(r"^  (\S.*?)(?:\s{2,}(\S.*))?$", line)
            sections[-1][1].append([m.group(1), m.group(2) or ""])
        else:
            entries = sections[-1][1]
            entries[-1][1] = (entries[-1][1] + " " + line.strip()).strip()
    return " ".join(desc), usage, sections


def usage_text(words):
    """['build/cli/shoal', 'send', '[OPTIONS]'] -> 'shoal send [OPTIONS]' (the path dropped)."""
    return " ".join(["shoal"] + words[1:])


def option_entry(entry, desc):
    """One option as a .TP paragraph: names in bold, the value's type in italics, the default."""
    names, _, arg = entry.partition(" ")
    names = re.sub(r"\{[^}]*\}", "", names)
    default = ""
    if "=" in arg:
        arg, default = arg.split("=", 1)
    m = TYPE_PREFIX.match(arg)
    if m:
        arg = m.group(2)
    tag = ", ".join("\\fB" + roff(n) + "\\fR" for n in names.split(","))
    if arg:
        tag += " \\fI" + roff(arg) + "\\fR"
    text = roff(desc)
    if default:
        text += " (default: " + roff(default) + ")"
    return ".TP\n" + tag + "\n" + text + "\n"


def options_of(sections, skip_help=True):
    out = []
    for name, entries in sections:
        if name not in ("Options", "Positionals"):
            continue
        for entry, desc in entries:
            if skip_help and entry.startswith("-h,--help"):
                continue
            out.append(option_entry(entry, desc))
    return "".join(out)


def main():
    shoal, template, version, output = sys.argv[1:5]
    _, _, top = parse_help(run_help(shoal))
    subcommands = [e[0] for name, entries in top if name == "Subcommands" for e in entries]
    parts = []
    for sub in subcommands:
        desc, usage, sections = parse_help(run_help(shoal, sub))
        parts.append(".SS \"" + roff(usage_text(usage)) + "\"\n" + roff(desc) + "\n" +
                     options_of(sections))
    with open(template, encoding="utf-8") as f:
        page = f.read()
    page = page.replace("@VERSION@", version)
    page = page.replace("@GLOBAL_OPTIONS@\n", options_of(top, skip_help=False))
    page = page.replace("@SUBCOMMANDS@\n", "".join(parts))
    with open(output, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
