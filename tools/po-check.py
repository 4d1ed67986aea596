#!/usr/bin/env python3
"""Checks translations of the web workspace against their template.

    python3 tools/po-check.py services/web/po/passage.pot services/web/po/ur.po [more.po ...]

For each .po file, an error (exit status 1) for:
  - a message of the template that the file lacks, leaves untranslated (empty msgstr) or marks
    "#, fuzzy" (fuzzy entries are not used: the page would show English);
  - a translation whose {0}, {1}, ... placeholders differ from its msgid's (each must appear as
    often as in the msgid, in any order), since the page fills them in by number;
  - a message the template does not have (edit passage.pot first, then every .po);
  - a file that does not parse (the same grammar as services/web/i18n.cc reads).
Python 3 standard library only.
"""

import re
import sys
from collections import Counter

PLACEHOLDER = re.compile(r"\{(\d{1,3})\}")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class PoError(Exception):
    pass


def unquote(text, where):
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(f"{where}: expected a string in double quotes")
    out = []
    i = 1
    while i < len(text) - 1:
        c = text[i]
        if c == "\\":
            i += 1
            if i >= len(text) - 1 or text[i] not in ESCAPES:
                raise PoError(f"{where}: unknown escape")
            out.append(ESCAPES[text[i]])
        elif c == '"':
            raise PoError(f"{where}: text after the closing double quote")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def parse(path):
    """Returns {(context, msgid): (msgstr, fuzzy, line)}, header excluded."""
    messages = {}
    entry = None  # dict with ctx, id, str, line, fuzzy, field
    fuzzy = False

    def finish():
        nonlocal entry, fuzzy
        if entry is None:
            return
        if "str" not in entry:
            raise PoError(f"{path}:{entry['line']}: msgid without msgstr")
        if entry["id"] != "" or entry["ctx"] is not None:
            key = (entry["ctx"] or "", entry["id"])
            if key in messages:
                raise PoError(f"{path}:{entry['line']}: {entry['id']!r} is listed twice")
            messages[key] = (entry["str"], entry["fuzzy"], entry["line"])
        entry = None

    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().split("\n")
    for number, raw in enumerate(lines, 1):
        where = f"{path}:{number}"
        line = raw.rstrip("\r").lstrip(" \t")
        if not line:
            continue
        if line.startswith("#"):
            if entry is not None and "str" not in entry:
                raise PoError(f"{where}: a comment inside an entry")
            finish()
            if line.startswith("#,") and "fuzzy" in [f.strip() for f in line[2:].split(",")]:
                fuzzy = True
            continue
        if line.startswith('"'):
            if entry is None:
                raise PoError(f"{where}: a string outside an entry")
            entry[entry["field"]] += unquote(line, where)
            continue
        word, _, rest = line.partition(" ")
        if word == "msgid_plural" or word.startswith("msgstr["):
            raise PoError(f"{where}: plural forms are not supported")
        if word == "msgctxt":
            finish()
            entry = {"ctx": "", "line": number, "fuzzy": fuzzy, "field": "ctx"}
            fuzzy = False
        elif word == "msgid":
            if entry is None or "str" in entry:
                finish()
                entry = {"ctx": None, "fuzzy": fuzzy, "field": "id"}
                fuzzy = False
            elif "id" in entry:
                raise PoError(f"{where}: msgid without msgstr before it")
            entry["id"] = ""
            entry["line"] = number
            entry["field"] = "id"
        elif word == "msgstr":
            if entry is None or "id" not in entry or "str" in entry:
                raise PoError(f"{where}: msgstr without a msgid before it")
            entry["str"] = ""
            entry["field"] = "str"
        else:
            raise PoError(f"{where}: expected msgctxt, msgid, msgstr, a string or a comment")
        entry[entry["field"]] += unquote(rest, where)
    finish()
    return messages


def placeholders(text):
    return Counter(PLACEHOLDER.findall(text))


def describe(key):
    context, msgid = key
    return f"{msgid!r}" + (f" (context {context!r})" if context else "")


def check(template, path):
    errors = []
    try:
        po = parse(path)
    except PoError as e:
        return [str(e)]
    for key in template:
        if key not in po:
            errors.append(f"{path}: missing {describe(key)}")
            continue
        text, fuzzy, line = po[key]
        if fuzzy:
            errors.append(f"{path}:{line}: {describe(key)} is marked fuzzy")
        elif text == "":
            errors.append(f"{path}:{line}: {describe(key)} is not translated")
        elif placeholders(text) != placeholders(key[1]):
            errors.append(
                f"{path}:{line}: {describe(key)}: placeholders "
                f"{sorted(placeholders(text).elements())} in the translation, "
                f"{sorted(placeholders(key[1]).elements())} in the msgid"
            )
    for key, (_, _, line) in po.items():
        if key not in template:
            errors.append(f"{path}:{line}: {describe(key)} is not in the template")
    return errors


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        template = parse(argv[1])
    except PoError as e:
        print(e, file=sys.stderr)
        return 1
    errors = []
    for path in argv[2:]:
        errors += check(template, path)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"po-check: {len(argv) - 2} catalog(s), {len(template)} messages each: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
