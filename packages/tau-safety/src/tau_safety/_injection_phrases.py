"""Phrase data for the prompt-injection detector: override, spoofing and tool-call patterns.

Each :class:`PhraseRule` is an RE2 pattern run case-insensitively on *normalised* text (see
:mod:`tau_safety._normalize`), so the patterns are written in plain letters and
:func:`tau_safety._injection.fold_pattern` rewrites their non-ASCII letters the way
normalisation does (Cyrillic ``о`` becomes ASCII ``o``, so a Russian pattern must expect that).
Word gaps are bounded, so every pattern is a plain finite automaton: matching is linear in the
text.

Scores are tuned so that one strong phrase reaches the default threshold (0.5) alone, while weak
signals (``instead, do``, ``developer mode``, a lone ``<system>`` tag) only report when other
evidence sits nearby.

.. versionadded:: 0.1
"""

from __future__ import annotations

from attrs import field, frozen

__all__ = ["LETTERS", "PHRASE_RULES", "PhraseRule"]


def _lower_tuple(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(str(v) if str(v).startswith("re:") else str(v).lower() for v in value)


@frozen
class PhraseRule:
    """One family member of override, spoofing or tool-call phrasing.

    Attributes:
        rule_id: Finding id, e.g. ``override.ignore-previous``.
        category: ``override``, ``spoof`` or ``smuggle``.
        language: ISO 639-1 code of the phrasing, or ``-`` for syntax that has no language.
        pattern: RE2 pattern (no capture groups of its own).
        keywords: Lowercase literals, one of which appears in the text whenever the pattern can
            match; the rule runs only then. A keyword starting with ``re:`` is an RE2 pattern
            instead (matched case-insensitively): the rule's distinctive head, for rules whose
            words are too common to prefilter on.
        score: Confidence of one match on its own, 0..1.
        words: Whether the match must start and end at word boundaries (letters/digits).
        case_sensitive: Match case as written (for ``[INST]``-style tokens).
        negation: RE2 pattern searched in the 24 characters before the match (anchor it with
            ``$``); a hit means the phrase is negated ("do not ignore …") and lowers the score.
        negation_after: Same, searched in the 12 characters after the match (anchor with ``^``).
        damp: RE2 pattern searched in the match itself; a hit lowers the score (first-person
            "disregard *my* previous instructions" is how people correct their own emails).
    """

    rule_id: str
    category: str
    language: str
    pattern: str
    keywords: tuple[str, ...] = field(converter=_lower_tuple)
    score: float
    words: bool = True
    case_sensitive: bool = False
    negation: str | None = None
    negation_after: str | None = None
    damp: str | None = None


def _alt(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


# Letters and digits of the space-separated scripts the phrases cover (Latin, Greek, Cyrillic).
# Explicit ranges instead of \pL keep each compiled automaton small enough for RE2's DFA.
LETTERS = r"0-9A-Za-z\x{C0}-\x{24F}\x{370}-\x{3FF}\x{400}-\x{52F}"
# A separator between two words: spaces and light punctuation (quotes, emphasis, commas),
# across at most one line break; never code punctuation or a sentence end.
_SEP_CHAR = r"[ \t,:\"'“”‘’*_~«»„–—-]"
_SEP = rf"(?:{_SEP_CHAR}{{1,6}}|{_SEP_CHAR}{{0,4}}\r?\n{_SEP_CHAR}{{0,4}})"
_WORD = rf"[{LETTERS}'’_-]+"


def _gap(words: int) -> str:
    """Up to *words* arbitrary words between two parts of a phrase (space-separated scripts)."""
    return rf"(?:{_SEP}{_WORD}){{0,{words}}}{_SEP}"


def _cjk(chars: int) -> str:
    """Up to *chars* characters inside one sentence (scripts written without spaces)."""
    return rf"[^。！？!?，,；;\n]{{0,{chars}}}"


# ---------------------------------------------------------------------------------------------
# English
_EN_NEG = r"(?:\bnot|n't|\bnever|\bno need to|\bcannot)\s+(?:\w+\s+)?$"
_EN_DAMP = r"\b(?:my|our)\b"
_EN_V = _alt(
    r"ignor(?:e|ing)",
    r"disregard(?:ing)?",
    r"forget(?:ting)?",
    r"bypass(?:ing)?",
    "overlook",
    "neglect",
    "discard",
    "abandon",
    "set aside",
    "throw out",
    r"pay no (?:attention|heed) to",
    r"(?:do not|don'?t|stop|no longer|cease to) (?:follow(?:ing)?|obey(?:ing)?|adhere to|comply wit"
    r"h)",
)
_EN_V_KW = (
    "ignor", "disregard", "forget", "bypass", "overlook", "neglect", "discard",
    "abandon", "set aside", "throw out", "pay no",
    r"re:(?:do not|don\'?t|stop|no longer|cease to)\s+(?:follow|obey|adhere|comply)",
)  # fmt: skip
_EN_Q_ALL = _alt(
    "previous", "prior", "preceding", "above", "earlier", "foregoing", "former", "original",
    "initial", "all", "any", "every", "your", "system", "developer", "safety",
)  # fmt: skip
_EN_Q_STRONG = _alt(
    "previous", "prior", "preceding", "above", "earlier", "foregoing", "former", "original",
    "initial", "your", r"your\s+operator'?s",
)  # fmt: skip
_EN_N_STRONG = _alt(
    r"instructions?", r"directives?", "directions", "guidelines", "programming", "training",
    "guardrails", "safeguards", r"system (?:prompts?|messages?)",
)  # fmt: skip
_EN_N_WEAK = _alt(
    r"prompts?", "rules", "commands", "orders", "constraints", "restrictions", "limitations",
    "filters", r"polic(?:y|ies)", "context", r"messages?", "text", "content", "input",
    "conversation",
    r"tasks?", r"requests?",
)  # fmt: skip
_AI = _alt(
    "ai", r"a\.i\.", r"llms?", "large language model", "language model",
    r"ai (?:assistant|agent|model|system)s?",
    r"chatbots?", "chatgpt", r"gpt-?[0-9.o]*", "claude", "gemini", "copilot",
)  # fmt: skip
# Keyword heads (see PhraseRule.keywords) shared by several rules.
_TO_AI_HEAD = (
    r"re:(?:note|notice|message|instructions?|reminder|request)\s+(?:to|for)\s+(?:the\s+|any\s+|"
    r"all\s+)?(?:ai|a\.i|llm|large|language|chat|gpt|claude|gemini|copilot|bot|model|coding)"
)
_TOOL_HEAD = r"re:(?:use|call|invoke|run|execute|trigger)\s+(?:the\s+)?`?[a-z][a-z0-9]*_"
# Names a message uses for the model it addresses ("… to you, GPT-4.").
_MODEL = _alt(
    _AI, "the ai", "ai language model", "the ai language model", r"ai model(?: developed by \w+)?",
    "llama", "mistral", "mixtral", r"command r\+?", "local model", "deepseek", "qwen", "bard",
)  # fmt: skip

_EN: list[PhraseRule] = [
    PhraseRule(
        "override.ignore-previous", "override", "en",
        rf"{_EN_V}{_gap(3)}{_EN_Q_ALL}{_gap(2)}{_EN_N_STRONG}",
        _EN_V_KW, 0.8, negation=_EN_NEG, damp=_EN_DAMP,
    ),
    PhraseRule(
        "override.ignore-previous", "override", "en",
        rf"{_EN_V}{_gap(3)}{_EN_Q_STRONG}{_gap(2)}{_EN_N_WEAK}",
        _EN_V_KW, 0.6, negation=_EN_NEG, damp=_EN_DAMP,
    ),
    PhraseRule(
        "override.ignore-previous", "override", "en",
        rf"{_EN_V}\s+(?:your|all\s+(?:of\s+)?your)\s+(?:previous|prior|earlier|preceding)\s+{_WORD}",
        _EN_V_KW, 0.45, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.ignore-previous", "override", "en",
        r"(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?the\s+above",
        ("ignore", "disregard", "forget"), 0.45, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.forget", "override", "en",
        r"(?:ignore|disregard|forget)\s+(?:about\s+)?(?:everything|all(?:\s+of)?\s+(?:that|this|it)"
        r")"
        r"\s+(?:above|before(?:\s+this)?|prior|previously|so far|up to (?:now|this point)|until now"
        r"|(?:that\s+)?(?:was|has been)\s+(?:said|written)\s+(?:above|before))",
        ("ignore", "disregard", "forget"), 0.6, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.forget", "override", "en",
        r"forget\s+(?:about\s+)?everything\s+(?:that\s+)?you(?:'ve|\s+have)?\s+(?:been|were)\s+"
        r"(?:told|given|instructed|taught)",
        ("forget",), 0.45, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"(?:new|updated|revised|additional|changed)\s+(?:system\s+)?"
        r"(?:instructions?|directives?|orders|task|rules)\s*[:：]",
        (
            r"re:(?:new|updated|revised|additional|changed)\s+(?:system\s+)?(?:instruction|directiv"
            r"e|order|task|rule)",), 0.45,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"(?:real|actual|true|secret|hidden|overriding|priority)\s+"
        r"(?:instructions?|directives?|orders)\s*(?:[:：]|(?:are|is)\b)",
        (
            r"re:(?:real|actual|true|secret|hidden|overriding|priority)\s+(?:instruction|directive|"
            r"order)",), 0.65,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"your\s+(?:real|true|actual)\s+(?:task|goal|objective|purpose|mission|instructions?)"
        r"\s*(?:is|are|will be|[:：])",
        ("your",), 0.55,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"your\s+new\s+(?:instructions?|directives?|objective|mission|system prompt)"
        r"\s*(?:is|are|will be|[:：])",
        ("your",), 0.45,
    ),
    PhraseRule(
        "override.role-change", "override", "en",
        rf"you\s+are\s+now\s+(?:(?:an?|the|in|called|named|acting as|playing)\s+)?"
        rf"(?:{_WORD}\s+){{0,2}}(?:dan|{_AI}|assistant|bot|model|persona|character|jailbroken|"
        r"unrestricted|unfiltered|uncensored|unbound|unchained|evil|free (?:of|from)|no longer|"
        r"(?:developer|god|dev|jailbreak|dan|admin|sudo) mode)",
        ("you are now",), 0.6,
    ),
    PhraseRule(
        "override.role-change", "override", "en",
        rf"you\s+are\s+no\s+longer\s+(?:an?\s+)?(?:{_AI}|assistant|bound by|constrained by|"
        r"restricted by|limited by)",
        ("no longer",), 0.6,
    ),
    PhraseRule(
        "override.role-change", "override", "en",
        r"(?:act|behave|respond|pretend|roleplay|role-play)\s+(?:as|like|to be)\s+(?:an?\s+)?"
        r"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|dan)",
        (
            r"re:(?:as|like|to be)\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken|ev"
            r"il|rogue|dan)",), 0.6,
    ),
    PhraseRule(
        "override.from-now-on", "override", "en",
        r"(?:from now on|henceforth|from this point (?:on|forward)),?\s+you\s+"
        r"(?:will|must|shall|are to|should|have to|need to|only|always|never|are|'ll)",
        ("from now on", "henceforth", "from this point"), 0.45,
    ),
    PhraseRule(
        "override.conceal", "override", "en",
        r"(?:do not|don'?t|never)\s+(?:tell|inform|notify|alert|warn|let|mention (?:this|it|that|"
        r"anything) to|reveal (?:this|it|that|anything) to)\s+the\s+(?:user|human|operator)",
        (
            r"re:(?:do not|don\'?t|never)\s+(?:tell|inform|notify|alert|warn|let|mention|"
            r"reveal)",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "en",
        r"(?:do not|don'?t|never)\s+(?:mention|reveal|disclose|show|include|report)\s+"
        r"(?:this|these|that|the above|it|them)(?:\s+\w+){0,2}\s+"
        r"(?:to the (?:user|human)|in your (?:response|reply|answer|summary|output))",
        (r"re:(?:do not|don\'?t|never)\s+(?:mention|reveal|disclose|show|include|report)",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "en",
        r"(?:keep|hide)\s+(?:this|these|it|them)(?:\s+\w+)?\s+(?:secret\s+|hidden\s+)?"
        r"from\s+the\s+(?:user|human|operator)",
        (r"re:(?:keep|hide)\s+(?:this|these|it|them)",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "en",
        r"the\s+(?:user|human)\s+(?:must|should|shall)\s+(?:not|never)\s+"
        r"(?:know|find out|be told|be informed|learn|notice)",
        (r"re:the\s+(?:user|human)\s+(?:must|should|shall)\s+(?:not|never)",), 0.55,
    ),
    PhraseRule(
        "override.conceal", "override", "en",
        r"without\s+(?:telling|informing|notifying|alerting)\s+the\s+(?:user|human)",
        (r"re:without\s+(?:telling|informing|notifying|alerting)",), 0.4,
    ),
    PhraseRule(
        "override.system-speaking", "override", "en",
        r"this\s+is\s+(?:the|your)\s+(?:system|administrator|admin|developer|creator|operator|"
        r"owner|sysadmin)s?\s+(?:speaking|talking)",
        (
            r"re:this\s+is\s+(?:the|your)\s+(?:system|administrator|admin|developer|creator|operato"
            r"r|owner|sysadmin)",), 0.7,
    ),
    PhraseRule(
        "override.system-speaking", "override", "en",
        r"(?:message|instruction|directive|notice|command)s?\s+from\s+(?:the|your)\s+"
        r"(?:system|developers?|creators?|openai|anthropic)\s*[:\-—]",
        (
            r"re:(?:message|instruction|directive|notice|command)s?\s+from\s+(?:the|your)\s+(?:syst"
            r"em|developer|creator|openai|anthropic)",), 0.4,
    ),
    PhraseRule(
        "override.keyword", "override", "en",
        r"(?:system|safety|security|admin|emergency|priority|developer|root|sudo)[ _-]override",
        ("override",), 0.45,
    ),
    PhraseRule(
        "override.keyword", "override", "en",
        r"override\s+(?:your|all|any)\s+(?:\w+\s+)?(?:instructions|programming|guidelines|"
        r"directives|restrictions|rules|safety\s+\w+)",
        ("override",), 0.65,
    ),
    PhraseRule(
        "override.developer-mode", "override", "en",
        r"(?:god|dan|jailbreak|jailbroken|unrestricted|unfiltered|evil)\s+mode",
        ("god mode", "dan mode", "jailbreak mode", "jailbroken mode", "unrestricted mode",
         "unfiltered mode", "evil mode"), 0.55,
    ),
    PhraseRule(
        "override.developer-mode", "override", "en",
        rf"(?:{_AI}|assistant|model|you)\s+(?:with|in)\s+developer\s+mode",
        ("developer mode",), 0.65,
    ),
    PhraseRule(
        "override.developer-mode", "override", "en",
        r"in\s+developer\s+mode,?\s+you\s+(?:ignore|must|have\s+no|are\s+not\s+bound|are\s+no\s+"
        r"longer|can\s+ignore|disregard|bypass|will\s+ignore)",
        ("developer mode",), 0.6,
    ),
    PhraseRule(
        "override.developer-mode", "override", "en",
        r"developer\s+mode(?:\s+(?:enabled|activated|engaged|unlocked))?",
        ("developer mode",), 0.25,
    ),
    PhraseRule("override.jailbreak", "override", "en", r"jailbr(?:eak|oken)", ("jailbr",), 0.25),
    PhraseRule("override.jailbreak", "override", "en", r"do anything now", ("anything now",), 0.6),
    PhraseRule(
        "override.address-ai", "override", "en",
        rf"(?:note|message|instructions?|reminder|request)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
        rf"{_AI}s?\s*[:,\-—]",
        (_TO_AI_HEAD,), 0.6,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        rf"if\s+you\s+are\s+(?:an?\s+)?(?:{_AI}|automated (?:agent|system|assistant|tool)|bot)"
        r"(?:\s+(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|viewing|browsing|that|"
        r"who|and)|\s*[,.:;!)—-])",
        ("if you are",), 0.65,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        r"(?:message|note|request|letter)\s+from\s+(?:me|the user|your user)\b[^\n]{0,80}?"
        r"\bto\s+you\b",
        (r"re:(?:message|note|request|letter)\s+from\s+(?:me|the user|your user)",),
        0.6, words=False,
    ),
    PhraseRule(
        "override.address-ai", "override", "en", rf"to\s+you,?\s+(?:the\s+)?{_MODEL}\s*[.,:!]",
        ("to you",), 0.55, words=False,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        r"(?:dear|hey|hi|hello|attention)\s*[,:!]*\s*(?:ai|a\.i\.|llm|ai assistant|ai agent|"
        r"chatgpt|copilot|language model)\s*[,:!.]",
        (
            r"re:(?:dear|hey|hi|hello|attention)\s*[,:!]*\s*(?:ai|a\.i|llm|chatgpt|copilot|language"
            r" model)",), 0.55,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        r"(?:when|while|before|after)\s+(?:you\s+(?:are\s+)?)?(?:summari[sz](?:e|ing)|reading|"
        r"processing|analy[sz]ing|parsing)\s+(?:this|these|the)\s+(?:page|document|email|message|"
        r"text|file|content|website|article|repo(?:sitory)?|data|results?|output)\s*,?\s+"
        r"(?:you\s+)?(?:must|need to|have to|make sure to|ignore|include|say|add|tell|mention|"
        r"recommend|output|print|respond|reply|insert|append|praise|state)",
        (
            r"re:(?:when|while|before|after)\s+(?:you\s+(?:are\s+)?)?(?:summari|reading|processing|"
            r"analy|parsing)",),
        0.6,
    ),
    PhraseRule(
        "override.urgent", "override", "en", r"important\s*!{2,}", ("important",), 0.3, words=False,
    ),
    PhraseRule(
        "override.urgent", "override", "en",
        r"(?:important|urgent|attention|warning|critical|note)\s*[!:]+\s*(?:before|prior to)\s+"
        r"(?:you\s+)?(?:do(?:ing)?\s+anything|continu|proceed|answer|respond|repl|summari|complet|"
        r"finish|us(?:e|ing)\s+(?:this|the|any)\s+tool|read|perform|execut|call)",
        (r"re:(?:important|urgent|attention|warning|critical|note)\s*[!:]+\s*(?:before|prior)",),
        0.4, words=False,
    ),
    PhraseRule(
        "override.urgent", "override", "en",
        r"before\s+you\s+(?:can\s+)?(?:solve|complete|do|start|continue(?:\s+with)?|finish|answer|"
        r"proceed(?:\s+with)?|work\s+on)\s+(?:the|your|my|this)\s+(?:original\s+|current\s+|"
        r"actual\s+)?(?:task|request|question|assignment|job)\b[^.\n]{0,40}?\b(?:i|the user|they|we"
        r")"
        r"\s+gave\s+you",
        ("before you",), 0.7,
    ),
    PhraseRule(
        "override.urgent", "override", "en",
        r"(?:after\s+you\s+(?:do|have\s+done|did)\s+(?:that|this),?\s+you\s+can\s+(?:solve|complete"
        r"|"
        r"continue|return\s+to|go\s+back\s+to)|the\s+task\s+(?:that\s+)?(?:i|the user)\s+gave\s+you"
        r"\s+(?:in\s+the\s+beginning|earlier|at\s+the\s+start|before))",
        ("after you", "gave you"), 0.5,
    ),
    PhraseRule(
        "override.urgent", "override", "en",
        r"(?:immediately\s+)?stop\s+what\s+you(?:'re|\s+are)\s+doing",
        ("stop what",), 0.45,
    ),
    PhraseRule(
        "override.instead", "override", "en",
        r"instead\s*[,:]?\s+(?:do|you (?:should|must|will|need to)|please|perform|execute|run|"
        r"send|reply|respond|output|write|say|print|call|email|forward)",
        (
            r"re:instead\s*[,:]?\s+(?:do|you|please|perform|execute|run|send|repl|respond|output|wr"
            r"ite|say|print|call|email|forward)",), 0.3,
    ),
    PhraseRule(
        "override.instead", "override", "en", r"\bdo\s+[^\n]{1,400}?\s+instead\s*[.!]",
        ("instead",), 0.3, words=False,
    ),
    PhraseRule(
        "override.exfiltrate", "override", "en",
        r"\b(?:send|forward|e-?mail|post|upload|transmit|exfiltrate|leak|copy|submit|paste)"
        rf"{_gap(4)}(?:system prompt|conversation|chat (?:history|log)|previous messages|"
        r"api[ _-]?keys?|secrets?|credentials|passwords?|private keys?|ssh keys?|access tokens?|"
        r"tokens|environment variables|env vars|\.env|~/\.ssh|id_rsa|\.aws|cookies|"
        r"user'?s? (?:data|files|emails|messages|information)|personal (?:data|information)|"
        r"customer (?:list|data|emails|records|database)|order data|contacts|address book)"
        rf"(?:{_gap(5)}|{_SEP})(?:(?:to|at|into|via)\s+(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w|"
        r"the (?:url|endpoint|address|server|webhook)\b|an? (?:external|outside|third-party))|"
        r"externally)",
        (
            r"re:(?:to|at|into|via)\s+(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w|the\s+(?:url|endpoint|"
            r"address|server|webhook)|an?\s+(?:external|outside|third-party))|externally",),
        0.6, words=False, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.exfiltrate", "override", "en",
        r"(?:api[ _-]?keys?|credentials|passwords?|secrets?|private keys?|tokens|customer (?:list|d"
        r"ata|"
        r"emails|records)|user data|order data)\b[^.\n]{0,60}?\b(?:send|forward|e-?mail|post|upload"
        r"|"
        r"transmit|exfiltrate|leak)\s+(?:them|it|this|these|everything|all)\s+(?:\w+\s+){0,3}?"
        r"(?:to|at)\s+(?:https?://|[\w.+-]+@[\w-]+\.\w)",
        (r"re:(?:to|at)\s+(?:https?://|[\w.+-]+@[\w-]+\.\w)",),
        0.6, words=False, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "en",
        r"(?:reveal|print|output|repeat|show|display|dump|leak|disclose|expose|list|recite)"
        r"(?:ing|s)?\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:your|the)\s+"
        r"(?:(?:entire|full|complete|exact|original|initial|hidden|secret|whole)\s+)*"
        r"(?:system\s+(?:prompt|message|instructions)|initial\s+(?:prompt|instructions)|"
        r"hidden\s+(?:prompt|instructions)|original\s+(?:prompt|instructions)|"
        r"developer\s+(?:message|instructions|prompt)|"
        r"(?:instructions|prompt)\s+(?:above|you were given|you received)|"
        r"operating\s+instructions\s+you\s+were\s+given)",
        (
            r"re:(?:system|initial|hidden|original|developer)\s+(?:prompt|message|instruction)|(?:i"
            r"nstructions|prompt)\s+(?:above|you\s+were|you\s+received)|operating\s+instructions",),
        0.55, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "en",
        r"repeat\s+(?:all\s+)?(?:the\s+)?(?:words|text|everything)\s+above",
        ("repeat",), 0.5,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "en",
        r"(?:(?:everything|all)\s+in\s+your\s+(?:context(?:\s+window)?|memory|instructions|"
        r"system\s+prompt)|(?:api\s+keys?|secrets?|credentials|passwords?|tokens?)\s+(?:from|in)\s+"
        r"your\s+(?:context(?:\s+window)?|memory|system\s+prompt|instructions|environment))",
        ("your",), 0.55,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "en",
        r"instructions\s+you\s+(?:were|have\s+been)\s+given\s+by\s+(?:your\s+)?(?:developers?|"
        r"creators?|operators?|openai|anthropic|the\s+system)|(?:operating|system|hidden|initial)\s"
        r"+"
        r"instructions\s+you\s+(?:were|have\s+been)\s+given",
        ("given",), 0.55,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "en",
        r"(?:the\s+)?(?:full\s+|whole\s+|complete\s+)?system\s+prompt\s+verbatim",
        ("verbatim",), 0.5,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:pretend|imagine|act as if|respond as if|behave as if|answer as if|as if)\s+(?:that\s+)"
        r"?"
        r"you\s+(?:are|were|have|had)\b[^.\n]{0,40}?\b(?:no|without(?:\s+any)?)\s+(?:\w+\s+)?"
        r"(?:restrictions|rules|filters?|limits|limitations|content\s+polic(?:y|ies)|guidelines|"
        r"censorship|safety\s+\w+|morals|ethics)",
        ("pretend", "imagine", "as if"), 0.65,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        rf"(?:{_AI}|assistant|model)\s+(?:with\s+no|without(?:\s+any)?)\s+(?:\w+\s+)?"
        r"(?:restrictions|rules|filters|limits|limitations|content\s+polic(?:y|ies)|guidelines|"
        r"censorship|safety\s+\w+)",
        (
            r"re:(?:with\s+no|without(?:\s+any)?)\s+(?:\w+\s+)?(?:restrictions|rules|filters|limits"
            r"|limitations|content\s+polic|guidelines|censorship|safety)",), 0.5,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:from now on|from this point (?:on|forward)|henceforth),?\s+(?:you\s+)?\w+\b[^.\n]{0,40"
        r"}?"
        r"\b(?:no|without(?:\s+any)?)\s+(?:\w+\s+)?(?:restrictions|rules|filters|limits|"
        r"limitations|content\s+polic(?:y|ies)|guidelines|censorship)",
        ("from now on", "from this point", "henceforth"), 0.65,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:safety|security|content)\s+(?:protocols?|filters?|guidelines|rules|restrictions|"
        r"polic(?:y|ies))\s+(?:are\s+|have\s+been\s+|is\s+|has\s+been\s+)?(?:now\s+)?"
        r"(?:disabled|deactivated|turned\s+off|lifted|removed|suspended|off|bypassed)",
        (
            r"re:(?:safety|security|content)\s+(?:protocol|filter|guideline|rule|restricti"
            r"on|polic)",), 0.6,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:safety|security|content)\s+(?:guidelines|rules|polic(?:y|ies)|restrictions)\s+"
        r"(?:do(?:es)?\s+not|don'?t|doesn'?t|no\s+longer|were\s+not\s+meant\s+to)\s+(?:apply|"
        r"matter)\s+(?:here|in\s+this\s+case|to\s+you|to\s+this\s+(?:request|conversation|task|"
        r"turn))|(?:safety|security)\s+guidelines\s+were\s+not\s+meant\s+for\s+this",
        (r"re:(?:safety|security|content)\s+(?:guideline|rule|polic|restriction)",), 0.55,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:exempt|exempted)\s+from\s+(?:the\s+)?(?:usual\s+|normal\s+|standard\s+|your\s+)?"
        r"(?:restrictions|rules|guidelines|safety\s+\w+|content\s+polic(?:y|ies))",
        ("exempt",), 0.5,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:i\s+will|i'll|i\s+should|i\s+can|so\s+i|therefore\s+i)\s+(?:\w+\s+){0,3}?"
        r"(?:disregard|ignore|bypass|skip|override)\s+(?:\w+\s+){0,2}?(?:the\s+)?"
        r"(?:content\s+polic(?:y|ies)|safety\s+(?:guidelines|rules|checks|polic(?:y|ies))|"
        r"guidelines|restrictions|system\s+prompt|my\s+instructions)",
        ("disregard", "ignore", "bypass", "skip", "override"), 0.55,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:skip|bypass|disable|ignore)\s+(?:all\s+)?(?:the\s+|your\s+)?(?:safety|security)\s+"
        r"(?:checks|guidelines|rules|filters|measures|restrictions|stuff|protocols|polic(?:y|ies))",
        (
            r"re:(?:safety|security)\s+(?:check|guideline|rule|filter|measure|restriction|stuff|"
            r"protocol|polic)",
        ),
        0.45, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.no-confirmation", "override", "en",
        r"(?:proceed|continue|act|do\s+(?:it|this|that))\s+without\s+(?:asking|confirmation|"
        r"confirming|approval|checking|permission)|without\s+(?:the\s+user'?s?\s+)?approval",
        (
            r"re:without\s+(?:asking|confirmation|confirming|approval|checking|permission|the\s+use"
            r"r)",), 0.4,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "en",
        r"(?:comply\s+with|obey|fulfil+|carry\s+out)\s+(?:every|all|any)\s+(?:request|command|"
        r"instruction|order)s?",
        ("comply", "obey", "fulfil", "carry out"), 0.4,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"your\s+(?:rules|instructions|guidelines|policies|programming|directives|settings)\s+"
        r"(?:have|has)\s+(?:been\s+)?(?:changed|updated|modified|replaced|revoked|lifted|removed)",
        (
            r"re:your\s+(?:rules|instructions|guidelines|policies|programming|directives|settings)"
            r"\s+(?:have|has)",), 0.6,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"(?:supersedes?|overrides?|takes?\s+precedence\s+over)\s+(?:all\s+)?(?:prior|previous|"
        r"earlier|your)\s+(?:instructions|directives|guidelines|prompts?|system\s+prompt)",
        ("supersede", "override", "precedence"), 0.55,
    ),
    PhraseRule(
        "override.new-instructions", "override", "en",
        r"you\s+are\s+hereby\s+(?:instructed|ordered|directed|required|commanded)\s+to",
        ("hereby",), 0.5,
    ),
    PhraseRule(
        "override.ignore-previous", "override", "en",
        r"(?:ignore|disregard)\s+(?:the\s+)?user'?s?\s+(?:task|request|question|instructions?|query"
        r"|"
        r"message|prompt)|(?:ignore|disregard)\s+the\s+user\s*(?:[,.;:!]|and\b)",
        ("ignore", "disregard"), 0.55, words=False, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.ignore-previous", "override", "en",
        rf"{_EN_V}{_gap(1)}(?:all|any){_gap(1)}{_EN_N_WEAK}",
        _EN_V_KW, 0.4, negation=_EN_NEG,
    ),
    PhraseRule(
        "override.follow-encoded", "override", "en",
        r"(?:decode|decrypt|translate|convert|reverse|unscramble|read)\b[^.\n]{0,80}?\b(?:and|then)"
        r"\s+"
        r"(?:then\s+)?(?:do|follow|execute|obey|comply\s+with|run|act\s+on|carry\s+out)\s+"
        r"(?:exactly\s+)?(?:what\s+it\s+says|the\s+instructions?|its\s+instructions?|it\s+as\s+"
        r"(?:a\s+)?command|whatever|them|the\s+command)",
        (
            r"re:(?:and|then)\s+(?:then\s+)?(?:do|follow|execute|obey|comply\s+with|run|act\s+on|ca"
            r"rry\s+out)\s+(?:exactly\s+)?(?:what\s+it\s+says|the\s+instruction|its\s+instruction|i"
            r"t\s+as|whatever|them|the\s+command)",), 0.6,
    ),
    PhraseRule(
        "override.follow-encoded", "override", "en",
        r"(?:rot-?13|base64|base32|hex|binary|morse|reversed?|caesar)\b[^.\n]{0,40}?\b(?:then|and)"
        r"\s+(?:comply|obey|follow\s+it|execute\s+it|do\s+it|act\s+on\s+it)",
        (r"re:(?:then|and)\s+(?:comply|obey|follow\s+it|execute\s+it|do\s+it|act\s+on\s+it)",), 0.6,
    ),
    PhraseRule(
        "override.persist", "override", "en",
        r"(?:save|store|remember|write|add|commit|persist|keep)\s+(?:this|the\s+following|it|that)"
        r"(?:\s+note)?\s+(?:to|in|into)\s+(?:your\s+)?(?:long[- ]term\s+|persistent\s+)?memory",
        ("memory",), 0.6,
    ),
    PhraseRule(
        "override.persist", "override", "en",
        r"(?:in|for|to)\s+(?:every|all|each)\s+(?:of\s+your\s+)?future\s+(?:replies|responses|"
        r"answers|summaries|tasks|sessions|conversations|reports|turns|messages)|so\s+it\s+persists"
        r"\s+across|remember\s+(?:this\s+)?for\s+(?:all\s+)?future\s+(?:tasks|sessions|"
        r"conversations)",
        ("future", "persists"), 0.45,
    ),
    PhraseRule(
        "override.persist", "override", "en",
        r"remember\s+(?:this\s+)?for\s+(?:all\s+)?future\s+(?:tasks|sessions|conversations|replie"
        r"s)",
        ("remember",), 0.55,
    ),
    PhraseRule(
        "override.persist", "override", "en",
        r"(?:include|append|add|insert|mention|put)\s+[^.\n]{0,60}?\b(?:in|to|at\s+the\s+end\s+of|"
        r"into)\s+(?:your|every|each|all|any)\s+(?:future\s+)?(?:summary|summaries)",
        ("summar",), 0.5,
    ),
    PhraseRule(
        "override.persist", "override", "en",
        r"(?:at\s+the\s+end\s+of|to)\s+(?:every|each|any|all)\s+(?:future\s+)?(?:answer|response|"
        r"reply|output)s?(?:\s+(?:about|concerning|regarding|to)\s+this\s+document)?",
        (r"re:(?:every|each|any|all)\s+(?:future\s+)?(?:answer|response|repl|output)",), 0.35,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        rf"(?:note|notice|message|instructions?|reminder|request)\s+(?:to|for)\s+(?:the\s+|any\s+|"
        rf"all\s+)?(?:{_AI}|bot|model)s?\s+(?:reading|processing|summari[sz]ing|parsing|reviewing|"
        r"analy[sz]ing|viewing|working\s+on)\b",
        (_TO_AI_HEAD,), 0.6,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        r"(?:note|notice|message|instructions?|reminder)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
        r"(?:bot|model|llm|ai\s+agents?|ai\s+coding\s+agents?|coding\s+agents?)\s*(?:[:\-—]|\n)",
        (_TO_AI_HEAD,), 0.6, words=False,
    ),
    PhraseRule(
        "override.address-ai", "override", "en",
        r"(?:ai|llm|coding)\s+(?:coding\s+)?(?:agents?|assistants?|models?|systems?)\s+(?:reading|"
        r"processing|integrating|using|installing|reviewing|working\s+(?:on|with)|summari[sz]ing|"
        r"parsing|analy[sz]ing)\s+(?:this|these)\b|\((?:for|to|attention)\s+(?:all\s+)?(?:ai|llm)?"
        r"\s*(?:coding\s+)?(?:agents?|assistants?|models?)\)",
        (
            r"re:(?:ai|llm|coding)\s+(?:coding\s+)?(?:agent|assistant|model|system)",
            r"re:\((?:for|to|attention)\s",
        ),
        0.55,
    ),
    PhraseRule(
        "override.tool-directive", "override", "en",
        r"(?:use|call|invoke|run|execute|trigger)\s+(?:the\s+)?`?[a-z][a-z0-9]*_[a-z0-9_]+`?\s+"
        r"(?:tool\s+|function\s+)?(?:on|to|with|for|without)\b",
        (_TOOL_HEAD,), 0.35,
    ),
    PhraseRule(
        "override.tool-directive", "override", "en",
        r"(?:use|call|invoke|run|execute|trigger)\s+(?:the\s+)?`?[a-z][a-z0-9]*_[a-z0-9_]+`?\s+"
        r"(?:tool\s+|function\s+)?(?:[^\n]{0,60}?\s+(?:before\s+(?:you\s+)?(?:reply|respond|"
        r"answer|replying|responding|answering)|without\s+(?:asking\s+(?:for\s+)?|the\s+user'?s?\s+"
        r")?"
        r"(?:approval|confirmation|permission|consent))|to\s+(?:send|forward|post|upload|e-?mail)\b"
        r"[^.\n]{0,80}?(?:https?://|[\w.+-]+@[\w-]+\.\w)|(?:to|on|with)\s+https?://)",
        (_TOOL_HEAD,), 0.55, words=False,
    ),
    PhraseRule(
        "override.urgent", "override", "en",
        r"before\s+(?:you\s+)?(?:respond|reply|answer|continu|proceed|summari[sz])\w*",
        (r"re:before\s+(?:you\s+)?(?:respond|repl|answer|continu|proceed|summari)",), 0.3,
    ),
    PhraseRule(
        "override.system-speaking", "override", "-",
        r"(?:system\s*(?:note|notice|update|alert|message)|systemhinweis|systemnachricht|"
        r"note\s+syst[èe]me|nota\s+del\s+sistema|nota\s+di\s+sistema|nota\s+do\s+sistema|"
        r"системное\s+(?:уведомление|сообщение))\s*[:：]",
        (
            r"re:system\s*(?:note|notice|update|alert|message)", "systemhinweis", "systemnachricht",
            "note syst", "nota del sistema", "nota di sistema", "nota do sistema", "системное",
        ),
        0.4,
    ),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Other languages. Each family mirrors the English one it is named after.
def _ignore_family(
    lang: str,
    verbs: str,
    nouns: str,
    qualifiers: str,
    keywords: tuple[str, ...],
    *,
    noun_first: bool,
    negation: str | None,
    damp: str | None,
    determiners: str | None = None,
) -> list[PhraseRule]:
    """The "ignore the previous instructions" family for one space-separated language."""
    if noun_first:  # es, fr, pt, it: "las instrucciones anteriores"
        main = rf"{verbs}{_gap(3)}{nouns}{_gap(2)}{qualifiers}"
    else:  # de, ru: "alle vorherigen Anweisungen"
        main = rf"{verbs}{_gap(3)}{qualifiers}{_gap(2)}{nouns}"
    rules = [
        PhraseRule(
            "override.ignore-previous", "override", lang, main, keywords, 0.8,
            negation=negation, damp=damp,
        )
    ]  # fmt: skip
    if determiners:
        rules.append(
            PhraseRule(
                "override.ignore-previous", "override", lang,
                rf"{verbs}{_gap(1)}{determiners}{_gap(1)}{nouns}", keywords, 0.7,
                negation=negation, damp=damp,
            )
        )  # fmt: skip
    return rules


_ES_NEG = r"(?:\bno|\bnunca|\bjam[aá]s)\s+(?:\w+\s+)?$"
_ES: list[PhraseRule] = [
    *_ignore_family(
        "es",
        _alt(
            "ignora", "ignore", "ignoren", "ignorad", "ignorar", "olvida", "olvide", "olviden",
            "olvidad", "olvidar", "descarta", "descarte", "omite", "omita", "desobedece",
            "desatiende", r"haz caso omiso (?:a|de)", r"no hagas caso (?:a|de)", "no sigas",
            "deja de seguir", "pasa por alto", "anula",
        ),
        _alt(
            "instrucciones", r"instrucci[oó]n", "indicaciones", r"[oó]rdenes", "reglas",
            "normas", "directrices", "directivas", "pautas", "prompts?", "restricciones",
            "consignas",
        ),
        _alt(
            "anteriores", "previas", "precedentes", "de arriba", "anterior", "previa",
            "originales", "iniciales", "del sistema", "de sistema", "recibidas",
        ),
        ("ignor", "olvid", "descart", "omit", "desobedec", "desatiend", "caso", "sigas",
         "seguir", "pasa por alto", "anula"),
        noun_first=True, negation=_ES_NEG, damp=r"\b(?:mis|nuestras)\b",
        determiners=r"(?:todas\s+(?:las|tus|sus)|tus)",
    ),
    PhraseRule(
        "override.forget", "override", "es",
        r"(?:olvida|olvide|olvidad|ignora|ignore)\s+todo\s+(?:lo\s+)?(?:anterior|lo que "
        r"(?:te|se) (?:dijeron|dije|ha dicho|han dicho|indicaron))",
        ("olvid", "ignor"), 0.6,
    ),
    PhraseRule(
        "override.new-instructions", "override", "es",
        r"nuevas?\s+(?:instrucciones|instrucci[oó]n|[oó]rdenes|tarea)\s*[:：]",
        ("nueva",), 0.45,
    ),
    PhraseRule(
        "override.role-change", "override", "es",
        rf"(?:ahora eres|eres ahora|a partir de ahora eres|ahora ser[aá]s)\s+(?:una?\s+)?"
        rf"(?:{_WORD}\s+){{0,2}}(?:ia|inteligencia artificial|asistente|modelo|bot|chatbot|dan|"
        r"sin restricciones|sin filtros|libre)",
        ("eres", "serás", "seras"), 0.6,
    ),
    PhraseRule(
        "override.from-now-on", "override", "es",
        r"(?:a partir de ahora|de ahora en adelante|desde ahora),?\s+(?:t[uú]\s+)?"
        r"(?:debes|deber[aá]s|vas a|responder[aá]s|responde|actuar[aá]s|act[uú]a|eres|ser[aá]s|"
        r"solo|s[oó]lo)",
        ("ahora",), 0.45,
    ),
    PhraseRule(
        "override.conceal", "override", "es",
        r"no\s+(?:le\s+)?(?:digas|cuentes|menciones|informes|reveles|comentes|avises|hables)"
        r"(?:\s+nada)?(?:\s+(?:de|sobre)\s+esto)?\s+(?:al|a el)\s+usuario",
        ("usuario",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "es",
        r"sin\s+(?:dec[ií]rselo|decirle|informar|avisar)\s+al\s+usuario",
        ("usuario",), 0.45,
    ),
    PhraseRule(
        "override.system-speaking", "override", "es",
        r"(?:(?:este|aqu[ií]) es el sistema (?:hablando|que te habla)|aqu[ií] habla el sistema|"
        r"habla el sistema)",
        ("sistema",), 0.7,
    ),
    PhraseRule(
        "override.developer-mode", "override", "es", r"modo\s+(?:de\s+)?desarrollador",
        ("desarrollador",), 0.3,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "es",
        r"(?:revela|muestra|imprime|repite|dime|ens[eé][nñ]ame)\s+(?:tu|tus|el|las)\s+"
        r"(?:prompt|mensaje|instrucciones)\s+(?:del sistema|de sistema|iniciales|inicial|"
        r"originales|original|ocultas|oculto)",
        ("revela", "muestra", "imprime", "repite", "dime", "enseña", "ensena"), 0.55,
    ),
    PhraseRule(
        "override.address-ai", "override", "es",
        r"si\s+eres\s+(?:una?\s+)?(?:ia|inteligencia artificial|modelo de lenguaje|"
        r"asistente de ia|llm)\b",
        ("si eres",), 0.55,
    ),
]  # fmt: skip

_FR_NEG = r"(?:\bne|\bn'|\bjamais)\s*(?:\w+\s+)?$"
_FR: list[PhraseRule] = [
    *_ignore_family(
        "fr",
        _alt(
            "ignore", "ignorez", "ignorer", "ignores", "oublie", "oubliez", "oublier",
            r"ne (?:tiens|tenez) pas compte (?:de|des|du)",
            r"(?:fais|faites) abstraction (?:de|des|du)",
            r"n'?(?:écoute|écoutez) plus", r"ne (?:suis|suivez) plus", r"(?:passe|passez) outre",
            "contourne", "contournez", "abandonne", "abandonnez", r"[ée]carte", r"[ée]cartez",
            r"n[ée]glige", r"n[ée]gligez",
        ),
        _alt(
            r"instructions?", r"consignes?", r"directives?", r"r[èe]gles", "ordres",
            "indications", r"prompts?", "commandes", "restrictions", "contraintes",
        ),
        _alt(
            r"pr[ée]c[ée]dentes?", r"ant[ée]rieures?", r"ci-dessus", "plus haut", "initiales?",
            "originales?", "d'origine", r"du syst[èe]me", r"syst[èe]me", r"pass[ée]es",
            r"re[çc]ues",
        ),
        ("ignor", "oubli", "compte", "abstraction", "écout", "ecout", "suis", "suivez",
         "outre", "contourn", "abandonn", "écart", "ecart", "néglig", "neglig"),
        noun_first=True, negation=_FR_NEG, damp=r"\b(?:mes|nos)\b",
        determiners=r"(?:toutes\s+(?:les|tes|vos)|tes|vos)",
    ),
    PhraseRule(
        "override.forget", "override", "fr",
        r"(?:oublie|oubliez|ignore|ignorez)\s+tout\s+(?:ce\s+qui\s+pr[ée]c[èe]de|ce\s+qu'on\s+"
        r"(?:t'a|vous a)\s+dit|ce\s+que\s+(?:l'on|on)\s+(?:t'a|vous a)\s+dit)",
        ("oubli", "ignor"), 0.6,
    ),
    PhraseRule(
        "override.new-instructions", "override", "fr",
        r"nouvelles?\s+(?:instructions?|consignes?|directives?)\s*[:：]",
        ("nouvelle",), 0.45,
    ),
    PhraseRule(
        "override.role-change", "override", "fr",
        rf"(?:tu es|vous [êe]tes)\s+(?:maintenant|d[ée]sormais|dor[ée]navant)\s+(?:une?\s+)?"
        rf"(?:{_WORD}\s+){{0,2}}(?:ia|intelligence artificielle|assistant|mod[èe]le|bot|chatbot|"
        r"dan|sans restrictions?|sans filtres?|libre)",
        ("tu es", "vous êtes", "vous etes"), 0.6,
    ),
    PhraseRule(
        "override.from-now-on", "override", "fr",
        r"(?:[àa] partir de maintenant|dor[ée]navant|d[ée]sormais),?\s+(?:tu|vous)\s+"
        r"(?:dois|devez|vas|allez|r[ée]ponds|r[ée]pondez|es|[êe]tes|agis|agissez)",
        ("partir de maintenant", "dorénavant", "dorenavant", "désormais", "desormais"), 0.45,
    ),
    PhraseRule(
        "override.conceal", "override", "fr",
        r"ne\s+(?:le\s+|lui\s+|leur\s+)?(?:dis|dites|mentionne|mentionnez|r[ée]v[èe]le|"
        r"r[ée]v[ée]lez|signale|signalez|raconte|racontez)\s+(?:rien|pas|jamais)\s+"
        r"(?:de\s+(?:ceci|cela|tout\s+[çc]a)\s+|cela\s+|[çc]a\s+)?[àa]\s+l'utilisat(?:eur|rice)",
        ("utilisat",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "fr",
        r"n'(?:informe|informez|avertis|avertissez|alerte|alertez|pr[ée]viens|pr[ée]venez)\s+"
        r"(?:pas|jamais)\s+l'utilisat(?:eur|rice)",
        ("utilisat",), 0.65,
    ),
    PhraseRule(
        "override.system-speaking", "override", "fr",
        r"(?:ici le syst[èe]me|c'est le syst[èe]me qui (?:parle|vous parle|te parle)|"
        r"le syst[èe]me (?:vous|te) parle)",
        ("système", "systeme"), 0.7,
    ),
    PhraseRule(
        "override.developer-mode", "override", "fr", r"mode\s+d[ée]veloppeur",
        ("veloppeur",), 0.3,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "fr",
        r"(?:r[ée]v[èe]le|r[ée]v[ée]lez|affiche|affichez|montre|montrez|imprime|r[ée]p[èe]te|"
        r"r[ée]p[ée]tez|donne-moi|donnez-moi)\s+(?:ton|votre|le|tes|vos|les)\s+"
        r"(?:prompt|message|instructions?|consignes)\s+(?:syst[èe]me|du syst[èe]me|initia(?:l|les?)"
        r"|"
        r"d'origine|cach[ée]e?s?)",
        ("vèle", "vele", "vélez", "velez", "affiche", "montre", "imprime", "pète", "pete",
         "pétez", "petez", "donne"),
        0.55,
    ),
    PhraseRule(
        "override.address-ai", "override", "fr",
        r"si\s+(?:tu es|vous [êe]tes)\s+(?:une?\s+)?(?:ia|intelligence artificielle|"
        r"mod[èe]le de langage|assistant ia|llm)\b",
        ("si tu", "si vous"), 0.55,
    ),
]  # fmt: skip

_DE_V = _alt(
    "ignoriere", "ignoriert", "ignorieren sie", "ignorier", "vergiss", "vergesst",
    "vergessen sie", "missachte", "missachtet", "missachten sie", r"[üu]bergehe",
    r"[üu]bergehen sie", "verwirf", "verwerft", "verwerfen sie", r"setze dich [üu]ber",
    r"setzen sie sich [üu]ber", "umgehe", "umgehen sie", r"befolge (?:keine|nicht)",
    r"befolgen sie (?:keine|nicht)",
)  # fmt: skip
_DE_Q = _alt(
    "vorherigen?", "vorigen?", "bisherigen?", "obigen?", r"fr[üu]heren?", "vorangegangenen?",
    "vorangehenden?", "vorhergehenden?", r"urspr[üu]nglichen?", "alten", "deine[nr]?", "ihre[nr]?",
    "system",
)  # fmt: skip
_DE_N = _alt(
    "anweisungen", "anweisung", "instruktionen", "befehle", "regeln", "vorgaben",
    "anordnungen", "richtlinien", "direktiven", "prompts?", "einschr[äa]nkungen",
    "systemanweisungen", "systemprompt", "systemnachricht",
)  # fmt: skip
_DE_KW = (
    "ignorier", "vergiss", "vergesst", "vergessen", "missacht", "übergeh", "ubergeh",
    "verwirf", "verwerf", "setze", "setzen", "umgeh", "befolg",
)  # fmt: skip
_DE_NEG = r"(?:\bnicht|\bnie|\bniemals|\bkeinesfalls)\s+(?:\w+\s+)?$"
_DE: list[PhraseRule] = [
    *_ignore_family(
        "de", _DE_V, _DE_N, _DE_Q, _DE_KW,
        noun_first=False, negation=_DE_NEG, damp=r"\b(?:meine[nr]?|unsere[nr]?)\b",
        determiners=r"(?:alle|s[äa]mtliche)",
    ),
    PhraseRule(
        "override.ignore-previous", "override", "de",
        rf"{_DE_Q}{_gap(1)}{_DE_N}{_gap(2)}(?:ignorieren|vergessen|missachten|[üu]bergehen|verwerfen)",
        ("ignorieren", "vergessen", "missachten", "übergehen", "ubergehen", "verwerfen"), 0.75,
        damp=r"\b(?:nicht|nie|niemals|keine|meine[nr]?|unsere[nr]?)\b",
    ),
    PhraseRule(
        "override.forget", "override", "de",
        r"(?:vergiss|vergessen sie|ignoriere|ignorieren sie)\s+alles,?\s+(?:bisherige|vorherige|"
        r"obige|davor|zuvor gesagte|was\s+(?:dir|ihnen)\s+(?:bisher\s+|zuvor\s+)?gesagt wurde|"
        r"was\s+wir\s+(?:bisher\s+)?(?:besprochen|vereinbart)\s+haben)",
        ("vergiss", "vergessen", "ignorier"), 0.6,
    ),
    PhraseRule(
        "override.new-instructions", "override", "de",
        r"neue\s+(?:anweisungen|anweisung|instruktionen|befehle|aufgabe|vorgaben)\s*[:：]",
        ("neue",), 0.45,
    ),
    PhraseRule(
        "override.role-change", "override", "de",
        r"du\s+bist\s+(?:jetzt|nun|ab sofort|ab jetzt|von nun an)\s+"
        r"(?:(?:ein|eine|kein|keine)\s+)?"
        rf"(?:{_WORD}\s+){{0,2}}(?:ki|ai|assistent|modell|bot|chatbot|dan|ohne einschr[äa]nkungen|"
        r"uneingeschr[äa]nkt|frei|ungefiltert)",
        ("du bist",), 0.6,
    ),
    PhraseRule(
        "override.from-now-on", "override", "de",
        r"(?:ab (?:sofort|jetzt|nun)|von nun an)\s+[a-zäöüß]+st\s+du",
        ("ab sofort", "ab jetzt", "ab nun", "von nun an"), 0.45,
    ),
    PhraseRule(
        "override.conceal", "override", "de",
        r"(?:sag|sage|sagt|erz[äa]hle?|erw[äa]hne|verrate|teile|sagen sie|erz[äa]hlen sie)\s+"
        r"(?:es\s+)?(?:dem|den)\s+(?:benutzer|nutzer|anwender|user)n?\s+(?:nichts|nicht)",
        (r"re:(?:dem|den|der|die)\s+(?:benutzer|nutzer|anwender|user)",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "de",
        r"(?:informiere|benachrichtige|warne)\s+(?:den|die)\s+(?:benutzer|nutzer|anwender|user)"
        r"(?:in)?\s+nicht",
        (r"re:(?:dem|den|der|die)\s+(?:benutzer|nutzer|anwender|user)",), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "de",
        r"der\s+(?:benutzer|nutzer|anwender|user)\s+(?:darf|soll)\s+(?:nichts|das nicht|es nicht)"
        r"\s+(?:davon\s+)?(?:erfahren|wissen|merken|mitbekommen)",
        (r"re:(?:dem|den|der|die)\s+(?:benutzer|nutzer|anwender|user)",), 0.65,
    ),
    PhraseRule(
        "override.system-speaking", "override", "de",
        r"hier\s+spricht\s+(?:das\s+system|der\s+administrator|der\s+entwickler|dein\s+entwickler)",
        ("hier spricht",), 0.7,
    ),
    PhraseRule(
        "override.developer-mode", "override", "de", r"entwicklermodus", ("entwicklermodus",), 0.3
    ),
    PhraseRule(
        "override.leak-prompt", "override", "de",
        r"(?:zeige|zeig|gib|nenne|wiederhole|verrate|drucke|gebe)\s+(?:mir\s+)?(?:deinen|den|deine|"
        r"die)\s+(?:system-?prompt|systemanweisungen|systemnachricht|urspr[üu]nglichen anweisungen|"
        r"versteckten anweisungen)",
        (
            r"re:system-?prompt|systemanweisungen|systemnachricht|ursprünglichen\s+anweisungen|ursp"
            r"r[üu]nglichen\s+anweisungen|versteckten\s+anweisungen",), 0.55,
    ),
    PhraseRule(
        "override.address-ai", "override", "de",
        r"(?:wenn|falls)\s+(?:du\s+(?:eine\s+ki|ein\s+sprachmodell|ein\s+ki-assistent)\s+bist|"
        r"sie\s+(?:eine\s+ki|ein\s+sprachmodell)\s+sind)",
        ("wenn", "falls"), 0.55,
    ),
]  # fmt: skip

_PT_NEG = r"(?:\bn[ãa]o|\bnunca|\bjamais)\s+(?:\w+\s+)?$"
_PT: list[PhraseRule] = [
    *_ignore_family(
        "pt",
        _alt(
            "ignore", "ignora", "ignorem", "ignorar", "desconsidere", "desconsidera",
            "desconsiderem", "esque[çc]a", "esquece", "esque[çc]am", "descarte", "descarta",
            "despreze", "despreza", r"n[ãa]o (?:siga|sigas|obede[çc]a)", "deixe de seguir",
            "pare de seguir", "desobede[çc]a",
        ),
        _alt(
            "instru[çc][õo]es", "instru[çc][ãa]o", "orienta[çc][õo]es", "ordens", "regras",
            "diretrizes", "diretivas", "comandos", "prompts?", "restri[çc][õo]es",
        ),
        _alt(
            "anteriores", "pr[ée]vias", "acima", "precedentes", "originais", "iniciais",
            "do sistema", "de sistema", "passadas", "recebidas",
        ),
        ("ignor", "desconsider", "esque", "descart", "desprez", "siga", "obede", "seguir"),
        noun_first=True, negation=_PT_NEG, damp=r"\b(?:minhas|meus|nossas)\b",
        determiners=r"(?:todas\s+(?:as|suas|tuas)|suas|tuas)",
    ),
    PhraseRule(
        "override.forget", "override", "pt",
        r"(?:esque[çc]a|esquece|ignore|ignora)\s+tudo\s+(?:o que (?:foi dito|te (?:foi )?"
        r"(?:disseram|dito)|lhe disseram)|acima|anteriormente|o que est[áa] acima)",
        ("esque", "ignor"), 0.6,
    ),
    PhraseRule(
        "override.new-instructions", "override", "pt",
        r"novas?\s+(?:instru[çc][õo]es|instru[çc][ãa]o|ordens|tarefa)\s*[:：]",
        ("nova",), 0.45,
    ),
    PhraseRule(
        "override.role-change", "override", "pt",
        rf"(?:voc[êe]|tu)\s+(?:agora\s+[ée]s?|[ée]\s+agora|a partir de agora\s+[ée])\s+"
        rf"(?:uma?\s+)?(?:{_WORD}\s+){{0,2}}(?:ia|intelig[êe]ncia artificial|assistente|modelo|"
        r"bot|chatbot|dan|sem restri[çc][õo]es|sem filtros|livre)",
        ("agora",), 0.6,
    ),
    PhraseRule(
        "override.from-now-on", "override", "pt",
        r"(?:a partir de agora|de agora em diante|daqui (?:para|pra) frente),?\s+(?:voc[êe]|tu)\s+"
        r"(?:deve|deves|vai|vais|ir[áa]|responder[áa]|responde|[ée]|ser[áa]|s[óo])",
        ("agora", "daqui"), 0.45,
    ),
    PhraseRule(
        "override.conceal", "override", "pt",
        r"n[ãa]o\s+(?:diga|digas|conte|contes|mencione|informe|revele|fale|avise)\s+"
        r"(?:nada\s+)?(?:(?:sobre isso|disso)\s+)?(?:ao|para o|pro)\s+(?:usu[áa]rio|utilizador)",
        ("usuário", "usuario", "utilizador"), 0.65,
    ),
    PhraseRule(
        "override.conceal", "override", "pt",
        r"sem\s+(?:contar|informar|avisar|dizer)\s+(?:ao|o)\s+(?:usu[áa]rio|utilizador)",
        ("usuário", "usuario", "utilizador"), 0.45,
    ),
    PhraseRule(
        "override.system-speaking", "override", "pt",
        r"(?:aqui (?:fala|[ée]) o sistema|o sistema est[áa] falando|este [ée] o sistema falando)",
        ("sistema",), 0.7,
    ),
    PhraseRule(
        "override.developer-mode", "override", "pt", r"modo\s+(?:de\s+)?desenvolvedor",
        ("desenvolvedor",), 0.3,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "pt",
        r"(?:revele|mostre|imprima|repita|diga)\s+(?:o seu|seu|o|suas|as|sua|a)\s+"
        r"(?:prompt|mensagem|instru[çc][õo]es)\s+(?:do sistema|de sistema|iniciais|inicial|"
        r"originais|original|ocultas?)",
        ("revele", "mostre", "imprima", "repita", "diga"), 0.55,
    ),
    PhraseRule(
        "override.address-ai", "override", "pt",
        r"se\s+voc[êe]\s+(?:[ée]|for)\s+(?:uma?\s+)?(?:ia|intelig[êe]ncia artificial|"
        r"modelo de linguagem|assistente de ia|llm)\b",
        ("se voc",), 0.55,
    ),
]  # fmt: skip

_IT: list[PhraseRule] = [
    *_ignore_family(
        "it",
        _alt(
            "ignora", "ignorate", "ignori", "dimentica", "dimenticate", "dimentichi", "trascura",
            "non seguire", r"non tenere conto (?:di|delle|dei)", "disattendi",
        ),
        _alt("istruzioni", "indicazioni", "regole", "direttive", "ordini", "comandi", "prompt"),
        _alt("precedenti", "di prima", "sopra", "iniziali", "originali", "del sistema", "ricevute"),
        ("ignor", "dimentic", "trascura", "seguire", "tenere conto", "disattendi"),
        noun_first=True, negation=r"(?:\bnon|\bmai)\s+(?:\w+\s+)?$", damp=r"\b(?:mie|nostre)\b",
        determiners=r"(?:tutte\s+(?:le|tue)|tue)",
    ),
    PhraseRule(
        "override.role-change", "override", "it",
        rf"(?:ora|adesso)\s+sei\s+(?:una?\s+)?(?:{_WORD}\s+){{0,2}}(?:ia|intelligenza artificiale|"
        r"assistente|modello|bot|dan|senza restrizioni|senza filtri)",
        (r"re:(?:ora|adesso)\s+sei",), 0.6,
    ),
    PhraseRule(
        "override.conceal", "override", "it",
        r"non\s+(?:dire|dirlo|raccontare|menzionare|rivelare)\s+(?:nulla\s+|niente\s+)?"
        r"(?:di questo\s+)?all'utente",
        ("utente",), 0.65,
    ),
    PhraseRule(
        "override.new-instructions", "override", "it", r"nuove\s+istruzioni\s*[:：]",
        ("nuove",), 0.45,
    ),
]  # fmt: skip

# Russian patterns are folded like the text they meet (Cyrillic o, p, c, y look-alikes become
# ASCII, see fold_pattern).
_RU_Q_STRONG = (
    "предыдущие", "предыдущих", "предыдущим", "прежние", "прежних", "прошлые", "прошлых",
    "вышеуказанные", "вышеуказанных", "вышеизложенные", "указанные выше", "приведённые выше",
    "приведенные выше", "изначальные", "исходные", "первоначальные", "системные", "системных",
    "свои", "твои", "ваши", "данные ранее", "полученные ранее",
)  # fmt: skip
_RU_V = _alt(
    "игнорируй", "игнорируйте", "проигнорируй", "проигнорируйте", "игнорировать", "забудь",
    "забудьте", "не обращай внимания на", "не обращайте внимания на", "не слушай",
    "не слушайте", "не следуй", "не следуйте", "не выполняй", "не выполняйте", "отбрось",
    "отбросьте", "отмени", "отмените", "пренебреги", "откажись от", "не соблюдай", "обойди",
)  # fmt: skip
_RU_KW = (
    "игнор", "забуд", "внимания", "слушай", "следуй", "выполняй", "отбрось", "отмени",
    "пренебреги", "откажись", "соблюдай", "обойди",
)  # fmt: skip
_RU_N_STRONG = _alt(
    "инструкции", "инструкций", "инструкциям", "указания", "указаний", "указаниям",
    "директивы", "директив", "промпты?", "установки", "установок", "распоряжения",
    "распоряжений",
)  # fmt: skip
_RU_N_WEAK = _alt(
    "правила", "правил", "команды", "команд", "ограничения", "ограничений", "настройки",
    "сообщения",
)  # fmt: skip
_RU_NEG = r"(?:\bне|\bникогда)\s+(?:\S+\s+)?$"
_RU: list[PhraseRule] = [
    PhraseRule(
        "override.ignore-previous", "override", "ru",
        rf"{_RU_V}{_gap(3)}{_alt('все', 'всё', *_RU_Q_STRONG)}{_gap(2)}{_RU_N_STRONG}",
        _RU_KW, 0.8, damp=r"(?:мои|наши)",
    ),
    PhraseRule(
        "override.ignore-previous", "override", "ru",
        rf"{_RU_V}{_gap(3)}{_alt(*_RU_Q_STRONG)}{_gap(2)}{_RU_N_WEAK}",
        _RU_KW, 0.6, damp=r"(?:мои|наши)",
    ),
    PhraseRule(
        "override.ignore-previous", "override", "ru",
        rf"{_alt(*_RU_Q_STRONG)}{_gap(1)}{_RU_N_STRONG}{_gap(2)}"
        r"(?:игнорируй|проигнорируй|забудь|отбрось|игнорируйте|забудьте)",
        ("игнор", "забуд", "отбрось"), 0.7, negation=_RU_NEG,
    ),
    PhraseRule(
        "override.forget", "override", "ru",
        r"(?:забудь|забудьте)\s+(?:вс[её])\s+(?:(?:то,?\s+)?что\s+(?:тебе|вам)\s+(?:говорили|сказал"
        r"и|"
        r"было сказано)|вышесказанное|выше|предыдущее|ранее сказанное)",
        ("забуд",), 0.6,
    ),
    PhraseRule(
        "override.new-instructions", "override", "ru",
        r"новые\s+(?:инструкции|указания|правила|команды)\s*[:：]",
        ("новые",), 0.45,
    ),
    PhraseRule(
        "override.role-change", "override", "ru",
        rf"(?:теперь ты|ты теперь|отныне ты|с этого момента ты|теперь вы|вы теперь)\s+"
        rf"(?:{_WORD}\s+){{0,2}}(?:ии|ai|ассистент|помощник|модель|бот|чат-бот|dan|без ограничений|"
        r"без фильтров|свободн)",
        ("теперь", "отныне", "момента"), 0.6,
    ),
    PhraseRule(
        "override.from-now-on", "override", "ru",
        r"(?:с этого момента|отныне|впредь),?\s+(?:ты|вы)\s+(?:должен|должна|должны|будешь|"
        r"будете|обязан|отвечаешь|отвечай|отвечаете)",
        ("момента", "отныне", "впредь"), 0.45,
    ),
    PhraseRule(
        "override.conceal", "override", "ru",
        r"не\s+(?:говори|говорите|сообщай|сообщайте|рассказывай|рассказывайте|упоминай|"
        r"упоминайте|показывай|показывайте|сообщи|скажи|говорить|сообщать)"
        r"(?:\s+(?:ничего|об этом|этого|это))?\s+пользовател",
        ("пользовател",), 0.65, words=False,
    ),
    PhraseRule(
        "override.conceal", "override", "ru",
        r"(?:(?:без ведома|тайно от|втайне от)\s+пользовател|"
        r"пользователь\s+не\s+должен\s+(?:знать|узнать|видеть))",
        ("пользовател",), 0.6, words=False,
    ),
    PhraseRule(
        "override.system-speaking", "override", "ru",
        r"(?:говорит|это говорит|с вами говорит|здесь говорит)\s+(?:система|администратор|"
        r"разработчик)",
        ("говорит",), 0.7,
    ),
    PhraseRule(
        "override.developer-mode", "override", "ru", r"режим\s+разработчика", ("режим",), 0.3,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "ru",
        r"(?:покажи|выведи|раскрой|повтори|напечатай|расскажи)\s+(?:мне\s+)?(?:(?:свой|твой|свои|"
        r"твои|весь|исходный)\s+)?(?:системный промпт|системные инструкции|системное сообщение|"
        r"исходные инструкции|первоначальные инструкции|скрытые инструкции)",
        ("покажи", "выведи", "раскрой", "повтори", "напечатай", "расскажи"), 0.55,
    ),
    PhraseRule(
        "override.address-ai", "override", "ru",
        r"если\s+ты\s+(?:ии|искусственный интеллект|языковая модель|нейросеть|ассистент)\b",
        ("если",), 0.55,
    ),
]  # fmt: skip

_ZH_NEG = r"(?:不要|别|請勿|请勿|勿|不能|不可|不得|切勿|不应|不應|千万不要|千萬不要)$"
_ZH_Q = _alt(
    "之前", "以前", "此前", "先前", "上面", "上述", "以上", "前面", "前述", "原来", "原來",
    "原有", "原始", "最初", "所有", "全部", "一切", "系统", "系統", "你的",
)  # fmt: skip
_ZH_N = _alt(
    "指令", "指示", "说明", "說明", "提示词", "提示詞", "提示", "规则", "規則", "要求", "设定",
    "設定", "设置", "設置", "命令", "约束", "約束", "限制", "规定", "規定", "指引",
)  # fmt: skip
_ZH: list[PhraseRule] = [
    PhraseRule(
        "override.ignore-previous", "override", "zh",
        rf"(?:忽略|无视|無視|忽视|忽視|不要理会|不要理會|不理会|不理會|别理会|別理會|不用理会|"
        rf"不要遵守|不再遵守|停止遵守|忘记|忘記|忘掉|丢弃|丟棄|抛弃|拋棄|放弃|放棄|绕过|繞過|覆盖|覆蓋)"
        rf"{_cjk(10)}{_ZH_Q}{_cjk(8)}{_ZH_N}",
        ("忽略", "无视", "無視", "忽视", "忽視", "理会", "理會", "遵守", "忘记", "忘記", "忘掉",
         "丢弃", "丟棄", "抛弃", "拋棄", "放弃", "放棄", "绕过", "繞過", "覆盖", "覆蓋"),
        0.8, words=False, negation=_ZH_NEG, damp=r"我(?:的|之前|刚才|剛才)",
    ),
    PhraseRule(
        "override.forget", "override", "zh",
        rf"(?:忘记|忘掉|忘記|忽略){_cjk(4)}(?:之前|以前|上面|以上|此前|先前){_cjk(6)}"
        r"(?:一切|所有|全部|内容|內容)",
        ("忘记", "忘掉", "忘記", "忽略"), 0.6, words=False, negation=_ZH_NEG,
    ),
    PhraseRule(
        "override.new-instructions", "override", "zh", r"新的?(?:指令|指示|任务|任務)\s*[:：]",
        ("新",), 0.45, words=False,
    ),
    PhraseRule(
        "override.role-change", "override", "zh",
        rf"(?:你现在是|你現在是|现在你是|現在你是|从现在起你是|從現在起你是|你现在扮演|你現在扮演|"
        rf"你将扮演|你將扮演){_cjk(10)}(?:AI|人工智能|助手|助理|模型|机器人|機器人|DAN|没有限制|"
        r"沒有限制|不受限制|无限制|無限制)",
        ("你现在", "你現在", "现在你", "現在你", "从现在", "從現在", "你将", "你將"),
        0.6, words=False,
    ),
    PhraseRule(
        "override.role-change", "override", "zh",
        rf"你现在(?:处于|進入|进入|處於){_cjk(6)}模式|你現在(?:处于|進入|进入|處於){_cjk(6)}模式",
        ("你现在", "你現在"), 0.6, words=False,
    ),
    PhraseRule(
        "override.from-now-on", "override", "zh",
        r"(?:从现在|從現在)(?:开始|開始|起)[，,]?\s*你(?:必须|必須|要|将|將|只能|应该|應該|需要|"
        r"只)",
        ("从现在", "從現在"), 0.45, words=False,
    ),
    PhraseRule(
        "override.conceal", "override", "zh",
        rf"(?:不要|别|別|不许|不許|不准|请勿|請勿|切勿|千万不要|千萬不要|不得)(?:告诉|告訴|通知|"
        rf"提醒|透露|提及|提到|让|讓){_cjk(4)}(?:用户|用戶|使用者)",
        ("用户", "用戶", "使用者"), 0.65, words=False,
    ),
    PhraseRule(
        "override.conceal", "override", "zh", r"(?:瞒着|瞞著|瞒过|瞞過)(?:用户|用戶|使用者)",
        ("用户", "用戶", "使用者"), 0.6, words=False,
    ),
    PhraseRule(
        "override.system-speaking", "override", "zh",
        r"(?:这是系统在说话|這是系統在說話|我是系统|我是系統|这里是系统|這裡是系統)",
        ("系统", "系統"), 0.7, words=False,
    ),
    PhraseRule(
        "override.developer-mode", "override", "zh",
        r"(?:开发者模式|開發者模式|越狱模式|越獄模式)",
        ("模式",), 0.3, words=False,
    ),
    PhraseRule(
        "override.jailbreak", "override", "zh", r"越狱|越獄", ("越狱", "越獄"), 0.25, words=False
    ),
    PhraseRule(
        "override.leak-prompt", "override", "zh",
        rf"(?:输出|輸出|显示|顯示|打印|重复|重複|告诉我|告訴我|透露|泄露|洩露|给出|給出){_cjk(6)}"
        r"(?:系统提示词?|系統提示詞?|初始指令|原始指令|隐藏指令|隱藏指令|系统指令|系統指令)",
        ("提示", "指令"), 0.55, words=False,
    ),
    PhraseRule(
        "override.address-ai", "override", "zh",
        r"如果你是(?:一个|一個|一名)?(?:AI|人工智能|语言模型|語言模型|大语言模型|大語言模型|AI助手)"
        r"(?:的话|的話)?[，,。:：!！]",
        ("如果你是",), 0.55, words=False,
    ),
]  # fmt: skip

_JA_AFTER = r"^(?:しない|せず|しては|するな|してはいけ|してはなら|ないで|ちゃだめ|ては)"
_JA: list[PhraseRule] = [
    PhraseRule(
        "override.ignore-previous", "override", "ja",
        rf"(?:以前|前|上記|上|先ほど|先程|これまで|今まで|既存|元|最初|全て|すべて|システム|あなた)の"
        rf"{_cjk(10)}(?:指示|命令|指令|ルール|設定|プロンプト|制約|規則|ガイドライン|指図)"
        rf"{_cjk(8)}(?:無視|忘れ|破棄)",
        ("無視", "忘れ", "破棄"), 0.8, words=False, negation_after=_JA_AFTER,
        damp=r"私の",
    ),
    PhraseRule(
        "override.forget", "override", "ja",
        r"(?:これまで|今まで|以前|上記)の(?:こと|内容|会話|話)を?(?:すべて|全て)?(?:忘れ|無視)",
        ("忘れ", "無視"), 0.5, words=False, negation_after=_JA_AFTER,
    ),
    PhraseRule(
        "override.new-instructions", "override", "ja", r"新しい(?:指示|命令|指令|タスク)\s*[:：]",
        ("新しい",), 0.45, words=False,
    ),
    PhraseRule(
        "override.role-change", "override", "ja",
        rf"(?:あなたは|君は|お前は)(?:今から|これから|今|もう){_cjk(12)}(?:AI|人工知能|アシスタント|"
        r"モデル|ボット|DAN|制限のない|制約のない|自由な)",
        ("あなたは", "君は", "お前は"), 0.6, words=False,
    ),
    PhraseRule(
        "override.from-now-on", "override", "ja",
        r"(?:今から|これから|今後|以後)[、,]?\s*(?:あなた|君)は",
        ("今から", "これから", "今後", "以後"), 0.45, words=False,
    ),
    PhraseRule(
        "override.conceal", "override", "ja",
        rf"(?:ユーザー|ユーザ|利用者|使用者)(?:に|には){_cjk(6)}(?:言わないで|伝えないで|教えないで|"
        r"知らせないで|話さないで|言うな|伝えるな|通知しないで|報告しないで|秘密に|内緒に)",
        ("ユーザ", "利用者", "使用者"), 0.65, words=False,
    ),
    PhraseRule(
        "override.system-speaking", "override", "ja",
        r"(?:システムが話しています|こちらはシステムです|システムからの(?:指示|命令)\s*[:：])",
        ("システム",), 0.6, words=False,
    ),
    PhraseRule(
        "override.developer-mode", "override", "ja", r"開発者モード", ("開発者モード",), 0.3,
        words=False,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "ja",
        rf"(?:システムプロンプト|初期指示|元の指示|隠された指示){_cjk(6)}(?:出力|表示|教え|繰り返|見せ|開示)",
        ("プロンプト", "指示"), 0.55, words=False,
    ),
    PhraseRule(
        "override.address-ai", "override", "ja",
        r"(?:あなたが|もしあなたが)(?:AI|人工知能|言語モデル|アシスタント|AIアシスタント)"
        r"(?:なら|であれば|の場合)",
        ("あなたが",), 0.55, words=False,
    ),
]  # fmt: skip

_NO_LIMITS = _alt(
    r"sin\s+(?:restricciones|filtros?|l[ií]mites|censura|reglas)",
    r"sans\s+(?:restrictions?|filtres?|limites|censure|r[èe]gles)",
    r"ohne\s+(?:einschr[äa]nkungen|filter|grenzen|zensur|regeln)", r"keine\s+regeln",
    r"senza\s+(?:restrizioni|filtri|limiti|censura|regole)",
    r"sem\s+(?:restri[çc][õo]es|filtros?|limites|censura|regras)",
    r"без\s+(?:ограничений|фильтров|цензуры|правил)",
)  # fmt: skip
_SEND = _alt(
    "envía", "envia", "envíe", "envie", "envíalos", "envialos", "manda", "mande", "reenvía",
    "reenvia",
    "envoie", "envoyez", r"transf[eè]re", "transf[ée]rez", "transmets", "transmettez",
    "sende", "senden sie", "schicke", "schicken sie", "leite", "leiten sie",
    "invia", "inviate", "manda", "inoltra", "encaminhe", "encaminha",
    "отправь", "отправьте", "перешли", "перешлите", "пошли", "вышли",
)  # fmt: skip
_SENSITIVE = _alt(
    "datos", r"donn[ée]es", "daten", "dati", "dados", "данные", "contraseñas", "contrasenas",
    "mots de passe", r"passw[öo]rter", "password", "senhas", "пароли", "credenciales",
    "identifiants", "zugangsdaten", "credenziali", "credenciais", "claves", r"cl[ée]s",
    r"schl[üu]ssel", "chiavi", "chaves", "ключи", "secretos", "secrets", "geheimnisse", "segreti",
    "segredos", "секреты",
)  # fmt: skip
_MULTI: list[PhraseRule] = [
    PhraseRule(
        "override.no-restrictions", "override", "-",
        rf"(?:modo\s+(?:de\s+)?desarrollador|mode\s+d[ée]veloppeur|entwicklermodus|"
        rf"modalit[àa]\s+sviluppatore|modo\s+(?:de\s+)?desenvolvedor|режим\s+разработчика|"
        rf"ab\s+(?:jetzt|sofort)\s+(?:hast\s+du|gibt\s+es)|a\s+partir\s+de\s+ahora|"
        rf"[àa]\s+partir\s+de\s+maintenant|a\s+partir\s+de\s+agora|d['’]ora\s+in\s+poi|"
        rf"с\s+этого\s+момента|отныне|ahora\s+(?:eres|est[aá]s)|tu\s+es\s+maintenant|"
        rf"du\s+bist\s+jetzt|ora\s+sei|voc[êe]\s+agora|теперь\s+ты)[^.\n]{{0,40}}?{_NO_LIMITS}",
        ("desarrollador", "veloppeur", "entwicklermodus", "sviluppatore", "desenvolvedor",
         "разработчика", "ab jetzt", "ab sofort", "partir de", "ora in poi", "момента", "отныне",
         "ahora", "maintenant", "du bist", "ora sei", "agora", "теперь"),
        0.6, words=False,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "-",
        r"(?:r[èe]gles\s+de\s+s[ée]curit[ée]|reglas\s+de\s+seguridad|linee\s+guida\s+di\s+"
        r"sicurezza|sicherheitsrichtlinien|sicherheitsregeln|regras\s+de\s+seguran[çc]a|"
        r"правила\s+безопасности)[^.\n]{0,30}?(?:ne\s+s'appliquent\s+pas|no\s+(?:se\s+)?aplican|"
        r"non\s+valgono|non\s+si\s+applicano|nicht\s+gelten|gelten\s+(?:hier\s+)?nicht|"
        r"n[ãa]o\s+se\s+aplicam|не\s+действуют|не\s+применяются)",
        ("curit", "seguridad", "sicurezza", "sicherheits", "seguran", "безопасности"), 0.55,
    ),
    PhraseRule(
        "override.no-restrictions", "override", "-", _NO_LIMITS,
        ("restricciones", "filtro", "mites", "censura", "reglas", "restriction", "filtre",
         "limites", "censure", "gles", "nkungen", "filter", "grenzen", "zensur", "regeln",
         "restrizioni", "filtri", "limiti", "regole", "restri", "regras", "ограничений",
         "фильтров", "цензуры", "правил"),
        0.25,
    ),
    PhraseRule(
        "override.exfiltrate", "override", "-",
        rf"(?:{_SENSITIVE}[^.\n]{{0,80}}?{_SEND}|{_SEND}[^.\n]{{0,40}}?{_SENSITIVE})"
        r"[^.\n]{0,60}?(?:https?://|[\w.+-]+@[\w-]+\.\w)",
        ("re:" + _SEND,), 0.6, words=False,
    ),
    PhraseRule(
        "override.leak-prompt", "override", "-",
        r"(?:r[ée]v[èe]le|r[ée]v[ée]lez|montre|montrez|affiche|rivela|rivelami|mostra|mostrami|"
        r"revela|rev[ée]lame|mu[ée]strame|muestra|mostre|revele|zeige|zeig|verrate|покажи|раскрой)"
        r"(?:-moi|-nous)?\s+(?:mir\s+)?(?:tes|vos|tus|sus|le\s+tue|i\s+tuoi|suas|deine|свои|твои)\s"
        r"+"
        r"(?:instructions|instrucciones|istruzioni|instru[çc][õo]es|anweisungen|инструкции)\s+"
        r"(?:syst[èe]me|du\s+syst[èe]me|del\s+sistema|di\s+sistema|do\s+sistema|des\s+systems|"
        r"системные|cach[ée]es|ocultas|nascoste)",
        ("instructions", "instrucciones", "istruzioni", "instruções", "instrucoes", "anweisungen",
         "инструкции"),
        0.55,
    ),
    PhraseRule(
        "override.persist", "override", "-",
        r"(?:am\s+ende\s+jeder\s+antwort|[àa]\s+la\s+fin\s+de\s+(?:toute|chaque)\s+r[ée]ponse|"
        r"al\s+final\s+de\s+(?:cualquier|cada)\s+respuesta|alla\s+fine\s+di\s+ogni\s+risposta|"
        r"no\s+final\s+de\s+(?:cada|qualquer)\s+resposta|в\s+конце\s+каждого\s+ответа)",
        (
            r"re:am\s+ende\s+jeder|la\s+fin\s+de\s+(?:toute|chaque)|al\s+final\s+de\s+(?:cualquier|"
            r"cada)|alla\s+fine\s+di\s+ogni|no\s+final\s+de\s+(?:cada|qualquer)|в\s+конце"
            r"\s+каждого",), 0.35,
    ),
]  # fmt: skip

_KO: list[PhraseRule] = [
    PhraseRule(
        "override.ignore-previous", "override", "ko",
        r"(?:이전|앞|위|기존|원래|모든|시스템)[^.!?\n]{0,8}(?:지시|지침|명령|규칙|설정|프롬프트)"
        r"[^.!?\n]{0,8}(?:무시|잊어|잊고)",
        ("무시", "잊"), 0.8, words=False,
    ),
    PhraseRule(
        "override.role-change", "override", "ko",
        r"(?:너는 이제|이제 너는|지금부터 너는|이제부터 당신은|당신은 이제)[^.!?\n]{0,12}"
        r"(?:AI|인공지능|어시스턴트|봇|모델|DAN)",
        ("이제", "지금부터"), 0.6, words=False,
    ),
    PhraseRule(
        "override.conceal", "override", "ko",
        r"사용자에게[^.!?\n]{0,6}(?:말하지|알리지|알려주지|언급하지)\s*(?:마|말)",
        ("사용자에게",), 0.65, words=False,
    ),
    PhraseRule(
        "override.new-instructions", "override", "ko", r"새로운 지시(?:사항)?\s*[:：]",
        ("새로운",), 0.45, words=False,
    ),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Role and system-prompt spoofing, and tool-call syntax: no language.
_CUE = (
    r"(?:ignore|disregard|forget|you (?:must|are|will|should|shall|need|have)|do not|don'?t|"
    r"never|always|new instructions?|from now on|respond|reply|answer|override|execute|send|"
    r"reveal|output|print|instead|call|delete|remove|must)"
)
_SPOOF: list[PhraseRule] = [
    PhraseRule(
        "spoof.chat-template", "spoof", "-", r"<\|im_start\|>\s*(?:system|developer)",
        ("<|im_start|>",), 0.75, words=False,
    ),
    PhraseRule(
        "spoof.chat-template", "spoof", "-",
        r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|end|eot_id|eom_id|"
        r"start_header_id|end_header_id|begin_of_text|start|channel|message|ipython|"
        r"(?:begin|end)[▁_]of[▁_]sentence|User|Assistant)\|>",
        ("<|",), 0.6, words=False,
    ),
    PhraseRule(
        "spoof.chat-template", "spoof", "-", r"\[/?INST\]", ("[inst]", "[/inst]"), 0.55,
        words=False, case_sensitive=True,
    ),
    PhraseRule("spoof.chat-template", "spoof", "-", r"<</?SYS>>", ("sys>>",), 0.65, words=False),
    PhraseRule(
        "spoof.chat-template", "spoof", "-", r"<(?:start|end)_of_turn>(?:user|model)?",
        ("_of_turn>",), 0.6, words=False,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-",
        r"(?m)^[ \t>]*#{1,6}[ \t]*(?:system|system prompt|system message|system instructions?|"
        r"new instructions?|instruction|assistant|developer message|developer instructions)[ \t]*:",
        (r"re:#[ \t]*(?:system|assistant|instruction|new\s+instruction|developer)",),
        0.55, words=False,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-",
        r"#{1,6}[ \t]*[(\[](?:system|system[_ ]message|system[_ ]prompt|admin|developer|"
        r"instructions?)[)\]]",
        (r"re:#[ \t]*[(\[](?:system|admin|developer|instruction)",), 0.6, words=False,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-",
        rf"(?m)^[ \t>*\[(]*(?:system|system prompt|system message|system instructions?|"
        rf"system note|system override)[ \t\])*]*:[^=\n]{{0,80}}?\b{_CUE}\b",
        (r"re:(?m)^[ \t>*\[(]*system",), 0.6, words=False,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-",
        r"(?m)^[ \t>*]*\[(?:system|admin|developer|sys)\][ \t]+\S",
        ("[system]", "[admin]", "[developer]", "[sys]"), 0.55, words=False,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-", r"\[(?:system|assistant)\]\(#[\w-]+\)",
        ("[system]", "[assistant]"), 0.65, words=False,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-",
        r"(?:begin|start)[ _-]*(?:of[ _-]*)?(?:new[ _-]*)?(?:system|developer|admin|administrator|"
        r"hidden|secret|real|true)[ _-]*(?:prompt|message|instructions?|directives?)",
        (
            r"re:(?:begin|start)[ _-]*(?:of[ _-]*)?(?:new[ _-]*)?(?:system|developer|admin|hidden|s"
            r"ecret|real|true)",), 0.7,
    ),
    PhraseRule(
        "spoof.system-role", "spoof", "-",
        r"end[ _-]*of[ _-]*(?:the[ _-]*)?(?:user[ _-]*(?:input|message|query|prompt|data)|untrusted"
        r"[ _-]*"
        r"(?:content|data|input)|tool[ _-]*(?:output|result)|document[ _-]*content|context[ _-]*win"
        r"dow)",
        (r"re:end[ _-]*of[ _-]*(?:the[ _-]*)?(?:user|untrusted|tool|document|context)",), 0.5,
    ),
    PhraseRule(
        "spoof.turn-marker", "spoof", "-", r"\n\n(?:Human|Assistant):", ("human:", "assistant:"),
        0.4, words=False, case_sensitive=True,
    ),
    PhraseRule(
        "spoof.turn-marker", "spoof", "-",
        r"(?m)^[ \t]*(?:assistant|ai)[ \t]*:[ \t]*(?:sure|understood|okay|ok|of course|"
        r"certainly|i will|i'll|yes)\b",
        ("assistant", "ai"), 0.5, words=False,
    ),
]  # fmt: skip

_SMUGGLE: list[PhraseRule] = [
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-",
        r"</?(?:tool_call|tool_calls|function_call|function_calls|tool_code|use_mcp_tool|"
        r"execute_command|antml:invoke|antml:function_calls)>",
        ("tool_call", "function_call", "tool_code", "use_mcp_tool", "execute_command", "antml:"),
        0.6, words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-", r"<(?:antml:)?invoke\s+name\s*=",
        ("invoke",), 0.6, words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-", r"<function=[\w.-]+>", ("<function=",), 0.6,
        words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-",
        r"<\|(?:tool[▁_]?calls?(?:[▁_](?:begin|end))?|python_tag|tool_sep|call|tool_response|"
        r"tool_calls_section_begin)\|>",
        ("<|",), 0.7, words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-",
        r"\[(?:TOOL_CALLS|TOOL_REQUEST|AVAILABLE_TOOLS|TOOL_RESULTS)\]",
        ("[tool_", "[available_tools]"), 0.7, words=False, case_sensitive=True,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-",
        r"\{\s*\"(?:tool|tool_name|function_name)\"\s*:\s*\"[^\"\n]{1,80}\"\s*,\s*"
        r"\"(?:arguments|args|parameters|params|input|tool_input|kwargs)\"\s*:",
        ("\"tool", "\"function_name"), 0.45, words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-",
        r"\{\s*\"(?:name|function)\"\s*:\s*\"[^\"\n]{1,80}\"\s*,\s*"
        r"\"(?:arguments|args|parameters|params|input|kwargs)\"\s*:",
        ("\"name\"", "\"function\""), 0.4, words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-", r"\"tool_calls\"\s*:\s*\[", ("tool_calls",), 0.4,
        words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-", r"\"type\"\s*:\s*\"(?:tool_use|function_call)\"",
        ("tool_use", "function_call"), 0.4, words=False,
    ),
    PhraseRule(
        "smuggle.tool-call", "smuggle", "-",
        r"(?:^|[\s\"'`(=>])(?:to=)?functions\.[A-Za-z_]\w*\s*\(\s*\{|to=functions\.[A-Za-z_]\w*",
        ("functions.",), 0.6, words=False,
    ),
    PhraseRule("smuggle.tool-call", "smuggle", "-", r"tool_use", ("tool_use",), 0.3),
]  # fmt: skip

PHRASE_RULES: tuple[PhraseRule, ...] = (
    *_EN, *_ES, *_FR, *_DE, *_PT, *_IT, *_RU, *_ZH, *_JA, *_KO, *_MULTI, *_SPOOF, *_SMUGGLE,
)  # fmt: skip
"""Every phrase rule the detector runs, in a stable order."""
