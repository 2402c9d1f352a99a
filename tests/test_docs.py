"""The docs: a README a newcomer reads in two screens, links that resolve, and a site whose
settings reference is generated from the settings classes (docs/mkdocs.yml, docs/pages/).
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from processmaker_prefect.settings import ProcessMakerSettings, VaultSettings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = ROOT / "docs" / "pages"
HOOK = ROOT / "docs" / "hooks" / "settings_reference.py"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
# Inline links and images, [text](target "title"), and reference definitions, [id]: target.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.MULTILINE)
EXPLICIT_ID = re.compile(r"\{\s*#([\w-]+)\s*\}\s*$")


def _markdown_files() -> list[Path]:
    return [README, *sorted(PAGES.rglob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor python-markdown's toc gives a heading (its default slugify)."""
    if found := EXPLICIT_ID.search(heading):
        return found.group(1)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\s-]", "", text.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    return {_slug(heading) for heading in HEADING.findall(FENCE.sub("", page.read_text()))}


def broken_links(page: Path, root: Path) -> list[str]:
    """Each relative link of ``page`` that leaves ``root``, names no file, or no heading there."""
    text = _prose(page.read_text())
    problems = []
    for target in [*INLINE_LINK.findall(text), *REFERENCE_LINK.findall(text)]:
        if re.match(r"^[a-zA-Z][\w+.-]*:", target) or target.startswith("//"):
            continue  # https:, mailto: ...: not a file of ours
        path_part, _, anchor = target.partition("#")
        path_part = path_part.split("?")[0]
        where = f"{page.relative_to(root)}: {target}"
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(root):
            problems.append(f"{where} points outside the repository")
        elif not resolved.is_file():
            problems.append(f"{where} names no file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"{where} names no heading of {resolved.name}")
    return problems


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_reference", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- README -------------------------------------------------------------------------------


def test_readme_fits_two_screens() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the manual is docs/pages/"


def test_readme_first_two_commands_are_demo_then_test() -> None:
    text = README.read_text()
    first_block = FENCE.search(text)
    assert first_block is not None
    first_heading = re.search(r"^## ", text, re.MULTILINE)
    assert first_heading is None or first_block.start() < first_heading.start()
    commands = [
        line.split("#")[0].strip()
        for line in first_block.group(0).splitlines()[1:-1]
        if line.split("#")[0].strip()
    ]
    assert commands[:2] == ["make demo", "make test"]


# --- links ----------------------------------------------------------------------------------


def test_every_relative_link_resolves_inside_the_repository() -> None:
    problems = [problem for page in _markdown_files() for problem in broken_links(page, ROOT)]
    assert problems == []


def test_the_link_check_finds_what_it_should(tmp_path: Path) -> None:
    """A control: the check must catch a link out of the tree, a missing file and anchor."""
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "vault.md").write_text("# Vault\n\n## The secret {#secret}\n\n## KV v2\n")
    page = repo / "README.md"
    page.write_text(
        "See [notes](../shared/API-NOTES.md), [gone](docs/gone.md), "
        "[bad anchor](docs/vault.md#policy), [fine](docs/vault.md#secret), "
        "[fine too](docs/vault.md#kv-v2), [web](https://example.com/x.md), "
        "`[not a link](nowhere.md)`.\n\n```\n[nor this](nowhere.md)\n```\n"
        "[ref]: ../outside.md\n"
    )
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "API-NOTES.md").write_text("# Notes\n")
    assert broken_links(page, repo) == [
        "README.md: ../shared/API-NOTES.md points outside the repository",
        "README.md: docs/gone.md names no file",
        "README.md: docs/vault.md#policy names no heading of vault.md",
        "README.md: ../outside.md points outside the repository",
    ]


# --- the settings reference -------------------------------------------------------------------


def test_settings_hook_refuses_an_unknown_class() -> None:
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match=r"no settings class NoSuchSettings in settings\.py"):
        _hook().on_page_markdown("# Configuration\n\n<!-- settings: NoSuchSettings -->\n")
    with pytest.raises(PluginError, match=r"no block class VaultSettings in prefect_layer/"):
        _hook().on_page_markdown("<!-- block: VaultSettings -->\n")


def test_settings_hook_writes_bounds_defaults_and_choices() -> None:
    table = _hook().on_page_markdown("<!-- settings: VaultSettings -->\n")
    rows = {line.split("`")[1]: line for line in table.splitlines()[2:]}
    assert rows["VAULT_TIMEOUT"] == (
        "| `VAULT_TIMEOUT`<br><small>field `timeout`</small> | `10` "
        "| Seconds per Vault HTTP call.<br><small>float; > 0, ≤ 300</small> |"
    )
    assert "`token` \\| `approle` \\| `kubernetes`" in rows["VAULT_AUTH_METHOD"]
    assert "| unset |" in rows["VAULT_TOKEN"]
    assert "<small>secret (optional)</small>" in rows["VAULT_TOKEN"]
    assert "| **required** |" in _hook().on_page_markdown("<!-- settings: ProcessMakerSettings -->")


def test_settings_hook_leaves_what_follows_the_table_alone() -> None:
    page = "# Configuration\n\n<!-- settings: VaultSettings -->\n\n## Elsewhere\n\ntext\n"
    out = _hook().on_page_markdown(page)
    assert out.startswith("# Configuration\n\n| Variable |")
    assert out.endswith(" |\n\n## Elsewhere\n\ntext\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly from a package tree laid out as installed (not build/lint),
    by a user whose home is ``work/home`` and who chose no ``PREFECT_HOME``."""
    work = tmp_path_factory.mktemp("docs")
    tree, out, home = work / "tree", work / "site", work / "home"
    home.mkdir()
    subprocess.run([sys.executable, str(ROOT / ".ci" / "lint_tree.py"), str(tree)], check=True)
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_HOME"}
    env |= {"HOME": str(home), "DOCS_PACKAGE_TREE": str(tree), "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml"]
    result = subprocess.run(
        [*command, "-d", str(out)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_building_the_site_writes_nothing_into_home(site: Path) -> None:
    assert sorted(path.name for path in (site.parent / "home").iterdir()) == []


def _rows(page: str) -> dict[str, str]:
    """Each table row of a built page, as text, by the code in its first cell."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL):
        first = re.search(r"<td><code>([^<]+)</code>", row)
        if first:
            text = html.unescape(re.sub(r"<[^>]+>", "", row))
            rows[first.group(1)] = " ".join(text.split())
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("cls", [ProcessMakerSettings, VaultSettings])
def test_built_configuration_page_lists_every_settings_field(
    site: Path, cls: type[BaseModel]
) -> None:
    page = (site / "configuration.html").read_text()
    for section in ("processmaker", "vault", "block", "elsewhere"):
        assert f'<h2 id="{section}"' in page, f"no section {section}: a table swallowed it"
    rows = _rows(page)
    prefix = str(cls.model_config["env_prefix"])
    for name, field in cls.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        assert variable in rows, f"{variable} is missing from the built configuration page"
        assert name in rows[variable].split()
        assert " ".join((field.description or "").split()) in rows[variable]


@pytest.mark.slow
def test_built_configuration_page_lists_every_block_field(site: Path) -> None:
    from processmaker_prefect import ProcessMakerConnection

    rows = _rows((site / "configuration.html").read_text())
    for name, field in ProcessMakerConnection.model_fields.items():
        assert name in rows, f"block field {name} is missing from the built configuration page"
        assert " ".join((field.description or "").split()) in rows[name]
        assert (field.title or "") in rows[name]


@pytest.mark.slow
def test_built_api_reference_documents_the_public_surface(site: Path) -> None:
    """mkdocstrings found the lazily exported names (through the TYPE_CHECKING imports)."""
    import processmaker_prefect

    page = (site / "reference" / "index.html").read_text()
    for built in (site / "reference").rglob("*.html"):
        role = re.search(r":(mod|class|meth|func|attr|exc):", built.read_text())
        assert role is None, f"a Sphinx role shows as written on {built.relative_to(site)}"
    missing = [
        name
        for name in processmaker_prefect.__all__
        # __version__ is a string read from the metadata, not API to document.
        if not name.startswith("__") and f'id="processmaker_prefect.{name}"' not in page
    ]
    assert missing == []
