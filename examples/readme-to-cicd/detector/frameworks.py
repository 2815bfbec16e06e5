"""The framework detector: languages, package managers, and the install, lint, test and build
commands of a project, from its parsed README.

    >>> d = detect({"commands": [{"command": "pip install -e ."}, {"command": "pytest -q"}],
    ...             "code_blocks": [{"lang": "python", "code": "import app"}]})
    >>> d["languages"], d["package_managers"], d["test"]
    (['python'], ['pip'], ['pytest -q'])
"""

from __future__ import annotations

import re

#: (command prefix regex, language, package manager, kind)
RULES = [
    (r"^npm (ci|install|i)\b", "javascript", "npm", "install"),
    (r"^npm (test|run test)\b", "javascript", "npm", "test"),
    (r"^npm run (build|compile)\b", "javascript", "npm", "build"),
    (r"^npm run lint\b", "javascript", "npm", "lint"),
    (r"^yarn( install)?$", "javascript", "yarn", "install"),
    (r"^yarn (test|run test)\b", "javascript", "yarn", "test"),
    (r"^yarn (build|run build)\b", "javascript", "yarn", "build"),
    (r"^pnpm (install|i)\b", "javascript", "pnpm", "install"),
    (r"^pnpm (test|run test)\b", "javascript", "pnpm", "test"),
    (r"^pip3? install\b", "python", "pip", "install"),
    (r"^poetry install\b", "python", "poetry", "install"),
    (r"^uv (sync|pip install)\b", "python", "uv", "install"),
    (r"^(python -m )?pytest\b", "python", None, "test"),
    (r"^tox\b", "python", None, "test"),
    (r"^(ruff|flake8|pylint)\b", "python", None, "lint"),
    (r"^python -m build\b", "python", None, "build"),
    (r"^cargo build\b", "rust", "cargo", "build"),
    (r"^cargo test\b", "rust", "cargo", "test"),
    (r"^cargo clippy\b", "rust", "cargo", "lint"),
    (r"^go build\b", "go", "go modules", "build"),
    (r"^go test\b", "go", "go modules", "test"),
    (r"^go mod download\b", "go", "go modules", "install"),
    (r"^mvn .*\bpackage\b", "java", "maven", "build"),
    (r"^mvn .*\btest\b", "java", "maven", "test"),
    (r"^(\./)?gradlew? build\b", "java", "gradle", "build"),
    (r"^(\./)?gradlew? test\b", "java", "gradle", "test"),
    (r"^bundle install\b", "ruby", "bundler", "install"),
    (r"^(bundle exec )?rspec\b", "ruby", "bundler", "test"),
    (r"^dotnet restore\b", "csharp", "nuget", "install"),
    (r"^dotnet build\b", "csharp", "nuget", "build"),
    (r"^dotnet test\b", "csharp", "nuget", "test"),
    (r"^make test\b", None, None, "test"),
    (r"^make( build| all)?$", None, None, "build"),
]
LANG_OF_BLOCK = {
    "py": "python",
    "python": "python",
    "js": "javascript",
    "javascript": "javascript",
    "ts": "typescript",
    "typescript": "typescript",
    "rust": "rust",
    "rs": "rust",
    "go": "go",
    "java": "java",
    "ruby": "ruby",
    "rb": "ruby",
    "csharp": "csharp",
    "cs": "csharp",
}
SETUP = {
    "python": "actions/setup-python@v5",
    "javascript": "actions/setup-node@v4",
    "typescript": "actions/setup-node@v4",
    "go": "actions/setup-go@v5",
    "java": "actions/setup-java@v4",
    "ruby": "ruby/setup-ruby@v1",
    "csharp": "actions/setup-dotnet@v4",
    "rust": None,
}


def _add(items: list, value) -> None:
    if value and value not in items:
        items.append(value)


def detect(parsed: dict) -> dict:
    """What the parsed README says about how to install, lint, test and build the project."""
    if not isinstance(parsed, dict) or not isinstance(parsed.get("commands", []), list):
        raise ValueError("give the parser's output: {commands: [...], code_blocks: [...]}")
    found: dict = {
        "languages": [],
        "package_managers": [],
        "install": [],
        "lint": [],
        "test": [],
        "build": [],
    }
    for entry in parsed.get("commands", []):
        command = str(entry.get("command", "") if isinstance(entry, dict) else entry).strip()
        for pattern, language, manager, kind in RULES:
            if re.match(pattern, command):
                _add(found["languages"], language)
                _add(found["package_managers"], manager)
                _add(found[kind], command)
                break
    for block in parsed.get("code_blocks", []):
        _add(found["languages"], LANG_OF_BLOCK.get(str(block.get("lang", "")).lower()))
    if "typescript" in found["languages"] and "javascript" in found["languages"]:
        found["languages"].remove("javascript")
    found["setup"] = [SETUP[lang] for lang in found["languages"] if SETUP.get(lang)]
    found["title"] = parsed.get("title") or "project"
    return found
