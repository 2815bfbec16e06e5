"""The README parser: Markdown into sections, fenced code blocks and shell commands.

>>> doc = parse("# App\\n\\nInstall:\\n\\n```bash\\n$ npm install\\nnpm test\\n```\\n")
>>> doc["title"], [c["command"] for c in doc["commands"]]
('App', ['npm install', 'npm test'])
"""

from __future__ import annotations

import re

SHELLS = {"", "sh", "bash", "shell", "console", "zsh", "terminal", "powershell", "ps1", "cmd"}
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(```|~~~)\s*([\w+-]*)")
INLINE = re.compile(
    r"^(npm|yarn|pnpm|pip|poetry|pytest|cargo|go|make|mvn|gradle|dotnet|bundle|rake|tox|uv)\b"
)


def parse(text: str, *, summaries: bool = False) -> dict:
    """``title``, ``sections`` (title, level, text), ``code_blocks`` (lang, code, section) and
    ``commands`` (command, section) of a README; with ``summaries`` each section also gets its first
    sentence."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("readme must be non-empty Markdown text")
    sections: list[dict] = [{"title": "", "level": 0, "lines": []}]
    blocks: list[dict] = []
    fence: str | None = None
    for line in text.splitlines():
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            else:
                blocks[-1]["lines"].append(line)
            continue
        opened = FENCE.match(line.strip())
        if opened:
            fence = opened.group(1)
            blocks.append({"lang": opened.group(2).lower(), "lines": [], "section": sections[-1]["title"]})
            continue
        heading = HEADING.match(line)
        if heading:
            sections.append({"title": heading.group(2), "level": len(heading.group(1)), "lines": []})
        else:
            sections[-1]["lines"].append(line)
    commands = []
    for block in blocks:
        if block["lang"] in SHELLS:
            for raw in block["lines"]:
                cmd = raw.strip().removeprefix("$ ").removeprefix("> ").strip()
                if cmd and not cmd.startswith("#"):
                    commands.append({"command": cmd, "section": block["section"]})
    for line in text.splitlines():  # `inline commands` in prose: `npm run build`
        for inline in re.findall(r"`([^`\n]{3,120})`", line):
            known = INLINE.match(inline) and all(c["command"] != inline for c in commands)
            if known:
                commands.append({"command": inline, "section": None})
    out_sections = []
    for s in sections:
        body = "\n".join(s["lines"]).strip()
        if s["level"] == 0 and not body:
            continue
        entry = {"title": s["title"], "level": s["level"], "text": body}
        if summaries:
            entry["summary"] = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0] if body else ""
        out_sections.append(entry)
    title = next((s["title"] for s in sections if s["level"] == 1), "")
    return {
        "title": title,
        "sections": out_sections,
        "code_blocks": [
            {"lang": b["lang"], "code": "\n".join(b["lines"]), "section": b["section"]} for b in blocks
        ],
        "commands": commands,
    }
