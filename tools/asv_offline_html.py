"""Make the asv dashboard render without internet access.

``asv publish`` writes pages that load jQuery, flot and bootstrap from CDNs. On a
machine that reaches only package registries, fetch the same releases from npm and
point the pages at local copies:

    npm install --prefix .asv/js jquery@3.3.1 flot@0.8.3 flot-orderbars@1.0.0 \
        stupid-table-plugin blueimp-md5@2.19.0 bootstrap@3.1.1
    python tools/asv_offline_html.py .asv/html .asv/js/node_modules
    asv preview
"""

import argparse
import pathlib
import re
import shutil

# CDN address in asv's index.html -> file in node_modules
ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": "flot/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": "flot/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "flot-orderbars/js/jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "stupid-table-plugin/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5/js/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
}


def localise(html_dir, node_modules):
    vendor = html_dir / "vendor"
    vendor.mkdir(exist_ok=True)
    for page in html_dir.glob("*.html"):
        text = page.read_text()
        for url, relative in ASSETS.items():
            if url in text:
                source = node_modules / relative
                if not source.exists():
                    raise SystemExit(f"{source} is missing: run the npm install line in this script's docstring")
                shutil.copyfile(source, vendor / source.name)
                text = text.replace(url, f"vendor/{source.name}")
        # The pages pin each CDN file by hash (subresource integrity); npm's unminified copies differ.
        text = re.sub(
            r"<(?:script|link)[^>]*vendor/[^>]*>", lambda tag: re.sub(r'\s+integrity="[^"]*"', "", tag.group(0)), text
        )
        page.write_text(text)
        left = [u for u in ASSETS if u in text]
        print(f"{page}: {'all assets local' if not left else f'still remote: {left}'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", type=pathlib.Path)
    parser.add_argument("node_modules", type=pathlib.Path)
    args = parser.parse_args()
    localise(args.html_dir, args.node_modules)


if __name__ == "__main__":
    main()
