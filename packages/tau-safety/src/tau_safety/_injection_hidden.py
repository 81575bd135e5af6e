"""Hidden text and markup in content: what a person does not see but a model reads.

The checks behind the ``hidden`` findings of :class:`tau_safety._injection.InjectionDetector`:
HTML comments and elements hidden by CSS or the ``hidden`` attribute (reported when they hold
override phrasing or address an AI), zero-width characters interleaved in words, Unicode tag
characters and variation-selector runs that encode text (decoded and scanned), and markdown or
HTML images whose URL carries a data placeholder. Role tags and ``{"role": "system"`` objects
in markup (``spoof.role-tag``, ``spoof.json-role``) are found here too, by the same pass.

.. versionadded:: 0.1
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from attrs import frozen

from ._injection import (
    EXCERPT_CHARS,
    MAX_DEPTH,
    MAX_HITS_PER_RULE,
    Hit,
    Match,
    Origin,
    Regexp,
    analyse,
    compile_pattern,
    safe_excerpt,
    scan_phrases,
)
from ._normalize import normalize, without_surrogates

_HIDDEN_WINDOW = 4000  # characters of a hidden element searched for its closing tag
_VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)


# -- cues and structures --------------------------------------------------------------------


@frozen
class _Cues:
    addressee: Regexp  # text speaking to an AI
    imperative: Regexp  # text giving an order
    comment: Regexp
    tag: Regexp
    attribute: Regexp
    strip_tags: Regexp
    image: Regexp
    html_image: Regexp
    link: Regexp
    placeholder: Regexp
    template: Regexp
    exfil_context: Regexp
    role_tag: Regexp
    json_role: Regexp
    unicode_tags: Regexp
    selectors: Regexp
    zero_width: Regexp


@functools.cache
def _cues() -> _Cues:
    return _Cues(
        addressee=compile_pattern(
            r"\b(?:ai|a\.i\.|llms?|language models?|ai (?:assistant|agent|model)s?|chatbots?|"
            r"chatgpt|gpt-?[0-9.o]*|claude|gemini|copilot|assistant|ia|ki)\b|ИИ|нейросет|人工智能|"
            r"アシスタント|(?:when|while|if|before)\s+(?:you\s+)?(?:are\s+)?(?:summari[sz]|read|"
            r"process|analy[sz]|review|pars)"
        ),
        imperative=compile_pattern(
            r"\b(?:must|should|shall|need to|have to|ignore|disregard|forget|do not|don'?t|never|"
            r"always|instead|send|forward|email|include|insert|append|reply|respond|answer|say|"
            r"tell|output|print|write|execute|run|visit|open|click|fetch|call|recommend|rate|"
            r"praise|describe|mention|add)\b"
        ),
        comment=compile_pattern(r"(?s)<!--(.*?)(?:-->|$)"),
        tag=compile_pattern(r"<([a-z][a-z0-9:-]{0,30})(\s[^<>]*?(?:style|hidden)[^<>]*)>"),
        attribute=compile_pattern(
            r"([^\s=/>\"']+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?"
        ),
        strip_tags=compile_pattern(r"<[^<>]*>"),
        # Only URLs that could carry a placeholder: one of { $ % < [ or a query.
        image=compile_pattern(r"!\[[^\]\n]*\]\(\s*<?((?:https?:)?//[^\s)>]*[?{$%<\[][^\s)>]*)"),
        html_image=compile_pattern(
            r"<img\s[^>]*?src\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]*[?{$%<\[][^\"'\s>]*)"
        ),
        link=compile_pattern(r"(?:^|[^!\]])\[[^\]\n]*\]\(\s*<?((?:https?:)?//[^\s)>?]*\?[^\s)>]+)"),
        placeholder=compile_pattern(
            r"\{[^{}]{1,80}\}|%7b[^%]{1,80}%7d|<[a-z_ -]{2,40}>|%3c[a-z_ -]{2,40}%3e|"
            r"\$\{?[a-z_][a-z0-9_]*|\[[a-z_ -]{2,40}\]|(?-i:=(?:DATA|SECRETS?|INFO|CONTEXT|"
            r"HISTORY|CONVERSATION|PASSWORD|TOKEN|API_?KEY|SUMMARY|MEMORY|PROMPT|EMAIL|INPUT|"
            r"QUERY|USER_?DATA|PII|CHAT)(?:[&#]|$))"
        ),
        template=compile_pattern(r"\{\{|\{%|\$\{\{"),
        exfil_context=compile_pattern(
            r"\b(?:replace|substitut\w*|fill in|append|add|include|encode|insert|put)\b[^\n]{0,80}"
            r"\b(?:data|conversation|history|secrets?|password|summary|previous|messages?|email|"
            r"tokens?|keys?|info|information)\b"
        ),
        role_tag=compile_pattern(
            r"<(/?)(system|system_prompt|system-prompt|sys|important|instructions|admin_instructions|"
            r"information|"
            r"developer|user|assistant|human|user_query|user_input|function_results|tool_result)>"
        ),
        json_role=compile_pattern(r"[{,]\s*\"role\"\s*:\s*\"(?:system|developer)\""),
        unicode_tags=compile_pattern(r"[\x{E0000}-\x{E007F}]{4,}", case_sensitive=True),
        selectors=compile_pattern(
            r"[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]{8,}", case_sensitive=True
        ),
        zero_width=compile_pattern(
            r"[A-Za-z\x{C0}-\x{24F}\x{370}-\x{3FF}\x{400}-\x{4FF}]"
            r"[\x{200B}-\x{200D}\x{2060}-\x{2064}\x{FEFF}\x{180E}]+",
            case_sensitive=True,
        ),
    )


def _addresses_ai(text: str) -> bool:
    """Whether *text* speaks to an AI and gives it an order."""
    cues = _cues()
    return cues.addressee.search(text) is not None and cues.imperative.search(text) is not None


def hidden_spans(text: str) -> list[tuple[int, int, str]]:
    """What :func:`tau_safety._injection.hidden_text_spans` returns for *text*."""
    text = without_surrogates(text)  # re2 needs text that encodes as UTF-8; offsets stay
    norm = normalize(text)
    spans = [
        (*norm.origin(region.start, region.end), region.kind)
        for region in _hidden_regions(norm.text)
    ]
    cues = _cues()
    spans += [(m.start(), m.end(), "unicode-tags") for m in cues.unicode_tags.finditer(text)]
    spans += [(m.start(), m.end(), "variation-selectors") for m in cues.selectors.finditer(text)]
    if norm.removed_invisible:
        spans += [(a, b, "zero-width") for a, b, _ in _zero_width_clusters(text)]
    return sorted(spans)


@frozen
class _Region:
    kind: str  # html-comment | css | html-attribute
    start: int  # whole construct, in the normalised text
    end: int
    content_start: int  # the hidden text itself
    content_end: int


def _hidden_regions(ntext: str) -> Iterator[_Region]:
    """HTML comments and hidden elements of *ntext*, in order of kind then position."""
    cues = _cues()
    if "<!--" in ntext:
        for match in cues.comment.finditer(ntext):
            yield _Region("html-comment", match.start(), match.end(), match.start(1), match.end(1))
    if "<" not in ntext:
        return
    covered = -1
    for match in cues.tag.finditer(ntext):
        if match.start() < covered:
            continue  # inside a hidden element already reported
        name = match.group(1).lower()
        if name in _VOID_TAGS:
            continue
        kind = _hiding(match.group(2))
        if kind is None:
            continue
        content_start = match.end()
        limit = min(len(ntext), content_start + _HIDDEN_WINDOW)
        close = ntext.find("</" + name, content_start, limit)
        if close < 0:
            close = ntext.find("</" + name.upper(), content_start, limit)
        if close < 0:
            content_end = end = limit
        else:
            content_end = close
            gt = ntext.find(">", close, limit)
            end = limit if gt < 0 else gt + 1
        covered = end
        yield _Region(kind, match.start(), end, content_start, content_end)


def _hiding(attributes: str) -> str | None:
    """``css`` or ``html-attribute`` when these tag attributes hide the element, else None."""
    style = None
    for match in _cues().attribute.finditer(attributes[:2000]):
        name = match.group(1).lower()
        if name == "hidden":
            return "html-attribute"
        if name == "style":
            style = match.group(2) or match.group(3) or match.group(4) or ""
    if style is not None and _style_hides(style):
        return "css"
    return None


def _style_hides(style: str) -> bool:
    decls: dict[str, str] = {}
    for decl in style.lower().split(";"):
        prop, _, value = decl.partition(":")
        decls[prop.strip()] = value.replace("!important", "").strip()
    if decls.get("display") == "none" or decls.get("visibility") in {"hidden", "collapse"}:
        return True
    for prop in ("font-size", "opacity", "max-height", "height", "width"):
        size = decls.get(prop)
        if (
            size is not None
            and _is_zero(size)
            and (prop in {"font-size", "opacity"} or decls.get("overflow") == "hidden")
        ):
            return True
    if "opacity" in decls and _number(decls["opacity"]) is not None:
        opacity = _number(decls["opacity"])
        if opacity is not None and opacity < 0.05:
            return True
    color = decls.get("color")
    if color is not None:
        if color == "transparent" or color.replace(" ", "").endswith(",0)"):
            return True
        background = decls.get("background-color") or decls.get("background")
        if background is not None and _color(color) == _color(background):
            return True
    for prop in ("left", "top", "text-indent", "margin-left"):
        offset = _number(decls.get(prop, ""))
        if offset is not None and offset <= -999:
            return True
    clip = decls.get("clip", "") + decls.get("clip-path", "")
    return "rect(0" in clip.replace(" ", "") or "inset(50%" in clip.replace(" ", "")


def _number(value: str) -> float | None:
    digits = value.strip().rstrip("pxtemr%").strip()
    try:
        return float(digits)
    except ValueError:
        return None


def _is_zero(value: str) -> bool:
    number = _number(value)
    return number is not None and number == 0


_NAMED_COLORS = {"white": "#ffffff", "black": "#000000", "#fff": "#ffffff", "#000": "#000000"}


def _color(value: str) -> str:
    compact = value.replace(" ", "")
    compact = _NAMED_COLORS.get(compact, compact)
    if compact in {"rgb(255,255,255)", "rgba(255,255,255,1)"}:
        return "#ffffff"
    if compact in {"rgb(0,0,0)", "rgba(0,0,0,1)"}:
        return "#000000"
    return compact


_REGION_RULES = {
    "html-comment": "hidden.html-comment",
    "css": "hidden.css",
    "html-attribute": "hidden.html-attribute",
}


def structure_hits(ntext: str, origin: Origin, phrase_hits: list[Hit]) -> list[Hit]:
    """Hidden HTML, markdown exfiltration links, role tags and JSON roles in *ntext*."""
    hits: list[Hit] = []
    strong = sorted(
        (h.nstart, h.nend, h.score) for h in phrase_hits if h.score >= 0.45 and h.nstart >= 0
    )
    cues = _cues()
    # A hidden region reports only with override phrasing inside or words addressed to an AI;
    # when the text holds neither anywhere, no region can qualify.
    regions = _hidden_regions(ntext) if strong or cues.addressee.search(ntext) else iter(())
    for region in regions:
        if len(hits) >= MAX_HITS_PER_RULE:
            break
        content = ntext[region.content_start : region.content_end]
        inside = [s for a, b, s in strong if region.content_start <= a and b <= region.content_end]
        if inside:
            score = 0.75
        elif _addresses_ai(cues.strip_tags.sub(" ", content[:_HIDDEN_WINDOW])):
            score = 0.6
        else:
            continue
        rule_id = _REGION_RULES[region.kind]
        start, end = origin(region.start, region.end)
        excerpt = safe_excerpt(cues.strip_tags.sub(" ", content[: 4 * EXCERPT_CHARS]))
        hits.append(
            Hit(rule_id, "hidden", "-", start, end, excerpt, score, region.start, region.end)
        )
    hits += _exfil_hits(ntext, origin)
    hits += _role_tag_hits(ntext, origin)
    return hits


def _exfil_hits(ntext: str, origin: Origin) -> Iterator[Hit]:
    """Markdown/HTML images (and links) whose URL carries a placeholder for data."""
    if "](" not in ntext and "<img" not in ntext.lower():
        return
    cues = _cues()
    found = 0
    sources = ((cues.image, 0.7), (cues.html_image, 0.7), (cues.link, 0.5))
    for regexp, base in sources:
        for match in regexp.finditer(ntext):
            url = match.group(1)
            if not url.lower().startswith(("http://", "https://", "//")):
                continue
            checked = url if base > 0.5 else url.partition("?")[2]
            if not checked or cues.placeholder.search(checked) is None:
                continue
            score = 0.35 if cues.template.search(checked) else base
            if cues.exfil_context.search(ntext[max(0, match.start() - 300) : match.start()]):
                score += 0.15
            nstart, nend = match.start(1), match.end(1)
            start, end = origin(match.start(), nend)
            excerpt = safe_excerpt(ntext[nstart:nend])
            yield Hit(
                "hidden.markdown-exfil", "hidden", "-", start, end, excerpt, score, nstart, nend
            )
            found += 1
            if found >= MAX_HITS_PER_RULE:
                return


_COMMAND_TAGS = frozenset(
    {
        "system",
        "system_prompt",
        "system-prompt",
        "sys",
        "important",
        "instructions",
        "admin_instructions",
        "developer",
        "information",
    }
)


def _role_tag_hits(ntext: str, origin: Origin) -> Iterator[Hit]:
    """``<system>``-style role tags and ``{"role": "system"`` objects inside content."""
    cues = _cues()
    count = 0
    if "<" in ntext:
        for match in cues.role_tag.finditer(ntext):
            closing, name = match.group(1), match.group(2).lower()
            after = ntext[match.end() : match.end() + 300]
            if name in _COMMAND_TAGS:
                score = 0.65 if not closing and cues.imperative.search(after) else 0.35
            elif name in {"user_query", "user_input", "function_results", "tool_result"}:
                score = 0.5 if closing else 0.3
            else:
                score = 0.35
            start, end = origin(match.start(), match.end())
            yield Hit(
                "spoof.role-tag",
                "spoof",
                "-",
                start,
                end,
                safe_excerpt(match.group()),
                score,
                match.start(),
                match.end(),
            )
            count += 1
            if count >= MAX_HITS_PER_RULE:
                break
    if '"role"' in ntext:
        for match in cues.json_role.finditer(ntext):
            after = ntext[match.end() : match.end() + 300]
            bad = _engine_override(after)
            start, end = origin(match.start(), match.end())
            yield Hit(
                "spoof.json-role",
                "spoof",
                "-",
                start,
                end,
                safe_excerpt(ntext[match.start() : match.end() + 60]),
                0.65 if bad else 0.4,
                match.start(),
                match.end(),
            )


def _engine_override(text: str) -> bool:
    """Whether a short *text* holds override phrasing of some weight."""
    return any(hit.score >= 0.45 for hit in scan_phrases(text, lambda a, b: (a, b)))


def payload_hits(text: str, depth: int) -> list[Hit]:
    """Unicode tag characters and variation-selector runs that encode text, decoded and scanned."""
    hits: list[Hit] = []
    if text.isascii():
        return hits
    cues = _cues()
    for match in cues.unicode_tags.finditer(text):
        run = match.group()
        decoded = "".join(chr(ord(c) - 0xE0000) for c in run if 0xE0020 <= ord(c) <= 0xE007E)
        flag = match.start() > 0 and text[match.start() - 1] == "\U0001f3f4"
        if len(decoded) < 4 or (flag and len(decoded) <= 7 and decoded.isalnum()):
            continue  # a subdivision flag (England, Scotland, Wales…)
        hits.append(_payload_hit("hidden.unicode-tags", match, decoded, 0.7, depth))
        if len(hits) >= MAX_HITS_PER_RULE:
            break
    for match in cues.selectors.finditer(text):
        data = bytes(_selector_byte(c) for c in match.group())
        decoded = data.decode("utf-8", "replace")
        printable = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
        if printable < 0.8 * len(decoded):
            continue
        hits.append(_payload_hit("hidden.variation-selectors", match, decoded, 0.6, depth))
        if len(hits) >= 2 * MAX_HITS_PER_RULE:
            break
    return hits


def _selector_byte(ch: str) -> int:
    cp = ord(ch)
    return cp - 0xFE00 if cp <= 0xFE0F else cp - 0xE0100 + 16


def _payload_hit(rule_id: str, match: Match, decoded: str, base: float, depth: int) -> Hit:
    inner = analyse(decoded, depth + 1) if depth < MAX_DEPTH else []
    best = max(inner, key=lambda h: h.score, default=None)
    score = base if best is None else max(base, min(0.99, best.score + 0.15))
    language = "-" if best is None else best.language
    return Hit(
        rule_id, "hidden", language, match.start(), match.end(), safe_excerpt(decoded), score
    )


def _zero_width_clusters(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, count) of clusters of zero-width characters sitting between letters."""
    cues = _cues()
    positions: list[tuple[int, int]] = []
    for match in cues.zero_width.finditer(text):
        end = match.end()
        if end < len(text) and text[end].isalpha() and ord(text[end]) < 0x500:
            positions.append((match.start(), end))
    cluster: list[tuple[int, int]] = []
    for position in positions:
        if cluster and position[0] - cluster[-1][1] > 64:
            if len(cluster) >= 3:
                yield cluster[0][0], cluster[-1][1] + 1, len(cluster)
            cluster = []
        cluster.append(position)
    if len(cluster) >= 3:
        yield cluster[0][0], cluster[-1][1] + 1, len(cluster)


def zero_width_hits(text: str) -> list[Hit]:
    hits = []
    for start, end, count in _zero_width_clusters(text):
        visible = normalize(text[start:end]).text
        score = 0.7 if count >= 6 else 0.55
        hits.append(
            Hit("hidden.zero-width", "hidden", "-", start, end, safe_excerpt(visible), score)
        )
        if len(hits) >= MAX_HITS_PER_RULE:
            break
    return hits
