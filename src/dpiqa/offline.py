"""Pages that open offline and tell no third party: the web libraries they load, shipped.

DVC's plots page and Great Expectations' Data Docs load vega, bootstrap, jQuery and friends
from CDNs, and Data Docs fetch their logo from a third-party host with the data context's id
in the URL. A reviewer without internet sees blank plots and unstyled tables; one with internet
tells that host each time a page opens. The libraries are vendored from the npm registry into
`offline_assets/` (`python -m dpiqa.offline` refreshes them and the DVC plots template); Data Docs
pages are rewritten to load them from the docs' own `static/` folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ASSETS = Path(__file__).with_name("offline_assets")
PLOTS_TEMPLATE = Path(".dvc/plots/offline.html")  # .dvc/config: plots.html_template
VEGA = ("vega@5.33.1/build/vega.min.js", "vega-lite@5.23.0/build/vega-lite.min.js",
        "vega-embed@6.29.0/build/vega-embed.min.js")
FONT_AWESOME = "@fortawesome/fontawesome-free@6.6.0"
BOOTSTRAP_TABLE = "bootstrap-table@1.19.1/dist"
# What Great Expectations' page templates load from CDNs -> the same release, vendored
# (packages, versions and licences: offline_assets/NOTICE.txt).
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/vega@5": VEGA[0],
    "https://cdn.jsdelivr.net/npm/vega-lite@5": VEGA[1],
    "https://cdn.jsdelivr.net/npm/vega-embed@6": VEGA[2],
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": f"{FONT_AWESOME}/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js@1.12.9/dist/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap@4.3.1/dist/js/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap@4.3.1/dist/css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": f"{BOOTSTRAP_TABLE}/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": f"{BOOTSTRAP_TABLE}/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        f"{BOOTSTRAP_TABLE}/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        f"{BOOTSTRAP_TABLE}/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        f"{BOOTSTRAP_TABLE}/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker@1.9.0/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker@1.9.0/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
}
FONT_FILES = [f"{FONT_AWESOME}/webfonts/{name}.woff2"  # all.min.css finds them at ../webfonts/
              for name in ("fa-solid-900", "fa-regular-400", "fa-brands-400", "fa-v4compatibility")]
LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md")
# The logos Data Docs fetch from a third party (an <img> with the data context's id in its query,
# a dark-mode CSS background): the docs ship the logo in static/images.
REMOTE_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[\w.-]+\.png(?:\?[^\"'\s)]*)?")
LOCAL_LOGO = "static/images/logo-long.png"
LOADING_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
EXTERNAL_SOURCE = re.compile(r'\b(?:src|href)\s*=\s*"((?:https?:)?//[^"]+)"', re.IGNORECASE)
EXTERNAL_CSS_URL = re.compile(r"""url\(\s*['"]?((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)
CROSS_ORIGIN_ATTRIBUTES = re.compile(r'\s(?:integrity|crossorigin)="[^"]*"')
DOCS_VENDOR = Path("static/vendor")


def external_loads(html: str) -> list[str]:
    """URLs a page would fetch by itself (scripts, stylesheets, images, CSS backgrounds), links
    to click aside."""
    tags = [match.group(1) for tag in LOADING_TAG.findall(html) for match in EXTERNAL_SOURCE.finditer(tag)]
    return tags + EXTERNAL_CSS_URL.findall(html)


def offline_data_docs(docs: Path) -> None:
    """Rewrite every Data Docs page under `docs` to load the vendored libraries and the local
    logo; raises if a page would still fetch anything from another host."""
    for relative in sorted({file for file in CDN_FILES.values()} | set(FONT_FILES)):
        target = docs / DOCS_VENDOR / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ASSETS / relative, target)
    for page in docs.rglob("*.html"):
        html = _offline_page(page.read_text(encoding="utf-8"), Path(os.path.relpath(docs, page.parent)))
        remaining = external_loads(html)
        if remaining:
            raise RuntimeError(f"{page}: would still load {remaining}; vendor them in dpiqa.offline.CDN_FILES")
        page.write_text(html, encoding="utf-8")


def _offline_page(html: str, base: Path) -> str:
    """`base`: the docs' root relative to the page."""
    html = REMOTE_LOGO.sub((base / LOCAL_LOGO).as_posix(), html)
    return LOADING_TAG.sub(lambda tag: _local_tag(tag.group(0), base), html)


def _local_tag(tag: str, base: Path) -> str:
    def local(match: re.Match) -> str:
        vendored = CDN_FILES.get(match.group(1))
        if vendored is None:
            return match.group(0)
        return match.group(0).replace(match.group(1), (base / DOCS_VENDOR / vendored).as_posix())

    rewritten = EXTERNAL_SOURCE.sub(local, tag)
    # A local file served with `crossorigin` fails its CORS check; CDN hashes do not bind our copy.
    return CROSS_ORIGIN_ATTRIBUTES.sub("", rewritten) if rewritten != tag else tag


def plots_page() -> str:
    """DVC's plots page with vega, vega-lite and vega-embed inlined. DVC fills `{plot_divs}`;
    without a `{scripts}` placeholder it adds no CDN tags."""
    scripts = []
    for relative in VEGA:
        code = (ASSETS / relative).read_text(encoding="utf-8")
        if "</script" in code.lower():
            raise ValueError(f"{relative} contains '</script' and cannot be inlined")
        scripts.append(f"<script>/* {relative} (BSD-3-Clause) */\n{code}\n</script>")
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>DVC plots</title>\n"
            + "\n".join(scripts)
            + "\n<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")


PACKAGE_FILE = re.compile(r"^(?P<name>@?[^@/]+(?:/[^@/]+)?)@(?P<version>[^/]+)/(?P<inner>.+)$")


def _split(relative: str) -> tuple[str, str, str]:
    """'@scope/name@1.2.3/dist/x.js' -> ('@scope/name', '1.2.3', 'dist/x.js')."""
    match = PACKAGE_FILE.match(relative)
    return match["name"], match["version"], match["inner"]


def vendor(into: Path = ASSETS) -> None:
    """Fetch every vendored file (and each package's licence) from the npm registry."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for relative in [*CDN_FILES.values(), *FONT_FILES]:
        name, version, inner = _split(relative)
        wanted.setdefault((name, version), []).append(inner)
    notice = ["Vendored from the npm registry by `python -m dpiqa.offline --fetch` (package, version, licence):"]
    with tempfile.TemporaryDirectory() as workdir:
        for (name, version), files in sorted(wanted.items()):
            packed = subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", workdir, "--silent"],
                                    check=True, capture_output=True, text=True).stdout.split()[-1]
            with tarfile.open(Path(workdir) / packed) as package:
                members = set(package.getnames())
                licence = json.loads(package.extractfile("package/package.json").read()).get("license")
                notice.append(f"{name} {version} {licence}")
                licences = [f for f in LICENCE_NAMES if f"package/{f}" in members]
                for inner in {*files, *licences}:
                    target = into / f"{name}@{version}" / inner
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(package.extractfile(f"package/{inner}").read())
    (into / "NOTICE.txt").write_text("\n".join(notice) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fetch", action="store_true", help="re-fetch the libraries from the npm registry first")
    args = parser.parse_args()
    if args.fetch:
        vendor()
    PLOTS_TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    PLOTS_TEMPLATE.write_text(plots_page(), encoding="utf-8")
    print(f"wrote {PLOTS_TEMPLATE}")


if __name__ == "__main__":
    main()
