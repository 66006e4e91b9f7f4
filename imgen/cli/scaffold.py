"""What ``imgen new-plugin`` (:mod:`imgen.cli.install`) writes: a working plugin skeleton from
the templates in ``imgen/templates/plugin`` (``string.Template`` files: ``$name``,
``$package``...)."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from imgen.errors import UsageError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "plugin"  # imgen/templates
NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def plugin_names(name: str) -> dict[str, str]:
    """The names a plugin called ``name`` uses, for the templates.

    Example:
        >>> plugin_names("my-task")["package"], plugin_names("my-task")["dist"]
        ('imgen_my_task', 'imgen-my-task')
    """
    from imgen import __version__

    if not NAME.fullmatch(name):
        raise UsageError(
            f"plugin name {name!r} is not valid; use lowercase letters and digits, separated "
            f"by single - or _, starting with a letter (e.g. demo, my-task)"
        )
    words = re.split(r"[-_]", name)
    title = "".join(w.capitalize() for w in words)
    return {
        "name": name,
        "package": "imgen_" + "_".join(words),
        "dist": "imgen-" + "-".join(words),
        "cls": title,
        "cls_config": title + "Config",
        "model": "-".join(words) + "-net",
        "model_cls": title + "Net",
        "imgen_version": __version__,
    }


def write_plugin(name: str, root: Path, *, force: bool = False) -> list[Path]:
    """Write the skeleton of plugin ``name`` into ``root``; returns the files written.

    Raises:
        UsageError: for an invalid name, or a ``root`` that holds files (unless ``force``).
    """
    names = plugin_names(name)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file; pick another --out folder")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise UsageError(f"{root} exists and is not empty; pick another --out folder or --force")
    written = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = template.relative_to(TEMPLATES).with_suffix("")  # drop .tmpl
        target = root / str(relative).replace("__package__", names["package"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template.read_text()).substitute(names))
        written.append(target)
    return written
