"""Rich text as safe HTML: Markdown rendered by markdown-it-py, the result sanitised by nh3.

The renderer is configured without raw HTML, but the sanitiser is what makes the output
safe: an allow-list of tags and attributes, link schemes http, https and mailto only, and
`rel="noopener noreferrer"` on every link. The widget inserts nothing but this.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # CommonMark with tables and strikethrough; raw HTML in the source stays text
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def to_html(text: str, format: str = "markdown") -> str:
    """The sanitised HTML of a rich-text body (`plain`: paragraphs of escaped text)."""
    if format == "plain":
        return sanitise(
            "".join(f"<p>{nh3.clean_text(p)}</p>" for p in text.split("\n\n") if p.strip())
        )
    return sanitise(_markdown().render(text))
