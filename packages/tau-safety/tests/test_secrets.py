"""Tests for tau_safety._secrets (the scanner) and tau_safety._entropy (its detector, filters).

Every secret-looking value here is synthetic: derived from a SHA-256 of a fixed "tau-fake"
seed, never a real credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import quopri
import string
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tau_safety import _entropy
from tau_safety._entropy import in_hash_context, is_git_object_id, is_placeholder, looks_random
from tau_safety._rule import Rule
from tau_safety._secrets import SecretFinding, SecretScanner

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64URL = ALNUM + "-_"


def fake(seed: str, length: int, alphabet: str = ALNUM) -> str:
    """A random-looking synthetic string, the same for the same seed."""
    chars: list[str] = []
    counter = 0
    while len(chars) < length:
        digest = hashlib.sha256(f"tau-fake:{seed}:{counter}".encode()).digest()
        chars.extend(alphabet[b % len(alphabet)] for b in digest)
        counter += 1
    return "".join(chars[:length])


GH = "ghp_" + fake("gh", 36)
AWS = "AKIA" + fake("aws", 16, string.ascii_uppercase + string.digits)
VALUE = fake("value", 32)  # a random-looking base64-alphabet value
HEX_VALUE = fake("hex", 40, HEX)

RULES = (
    Rule("test-github", "GitHub", r"\b(ghp_[A-Za-z0-9]{36})\b", ("ghp_",)),
    Rule("test-aws", "AWS", r"\b((?:AKIA|ASIA)[A-Z0-9]{16})\b", ("akia", "asia")),
    # A deliberately broad generic rule, to show the digest/UUID/git filters on rule findings.
    Rule(
        "test-generic",
        "generic",
        r"(?i)(?:hash|key|secret|token|checksum|integrity)[^\s=:]{0,24}?[\"']?\s*[=: ]\s*[\"']?"
        r"(?:sha\d+[:=-])?([A-Za-z0-9+/_-]{32,})",
        ("hash", "key", "secret", "token", "checksum", "integrity"),
        min_entropy=3.0,
    ),
)


def scanner(**kwargs) -> SecretScanner:
    return SecretScanner(kwargs.pop("rules", RULES), **kwargs)


def ids(findings: list[SecretFinding]) -> list[str]:
    return [f.rule_id for f in findings]


def only(text: str, **kwargs) -> SecretFinding:
    findings = scanner(**kwargs).scan(text)
    assert len(findings) == 1, findings
    return findings[0]


# -- findings ----------------------------------------------------------------------------------


def test_finding_reports_span_line_column_preview_and_hash() -> None:
    text = f"first line\nsecond: token {GH} end\n"
    finding = only(text)
    assert finding.rule_id == "test-github"
    assert finding.service == "GitHub"
    assert text[finding.start : finding.end] == GH
    assert (finding.line, finding.column) == (2, 15)
    assert finding.preview == "ghp_…[REDACTED]"
    assert finding.encoding is None
    assert finding.secret_hash == hashlib.sha256(GH.encode()).hexdigest()
    assert GH not in repr(finding)


def test_preview_shows_nothing_of_a_short_secret() -> None:
    finding = scanner(extra_values=["short-secret"]).scan("x short-secret y")[0]
    assert finding.preview == "…[REDACTED]"


def test_findings_are_ordered_and_lines_count_across_many() -> None:
    text = "\n".join(f"{i} {GH}" for i in range(50))
    findings = scanner().scan(text)
    assert [f.line for f in findings] == list(range(1, 51))
    assert all(f.column == len(str(f.line - 1)) + 2 for f in findings)


def test_rejects_negative_decode_depth() -> None:
    with pytest.raises(ValueError, match="decode_depth"):
        SecretScanner(RULES, decode_depth=-1)


def test_rule_pattern_re2_cannot_compile_names_the_rule() -> None:
    bad = Rule("bad-rule", "X", r"(a)\1", ("a",))
    with pytest.raises(ValueError, match="bad-rule"):
        SecretScanner([bad]).scan("aa")


def test_default_rules_are_the_rule_table() -> None:
    from tau_safety._rules import RULES as TABLE

    text = f"export GITHUB_TOKEN={GH}\nuser=me\n"
    redacted, findings = SecretScanner().redact(text)
    assert [f.rule_id for f in findings] == ["github-pat"]
    assert any(rule.id == "github-pat" for rule in TABLE)
    assert redacted == "export GITHUB_TOKEN=[REDACTED]\nuser=me\n"


# -- keyword prefilter -------------------------------------------------------------------------

GATED = Rule("gated", "X", r"\b(zq73190452)\b", ("magicword",))


def test_rule_runs_only_when_one_of_its_keywords_occurs() -> None:
    s = SecretScanner([GATED], entropy=False)
    assert s.scan("value zq73190452 here") == []
    assert ids(s.scan("magicword value zq73190452 here")) == ["gated"]


def test_keywords_match_case_insensitively_anywhere_in_the_text() -> None:
    s = SecretScanner([GATED], entropy=False)
    assert ids(s.scan("zq73190452 ... far away: MagicWord")) == ["gated"]


def test_rule_without_keywords_always_runs() -> None:
    always = Rule("always", "X", r"\b(zq73190452)\b")
    assert ids(SecretScanner([always, GATED], entropy=False).scan("zq73190452")) == ["always"]


def test_keywords_found_through_normalisation() -> None:
    s = SecretScanner([GATED], entropy=False)
    assert ids(s.scan("ｍａｇｉｃｗｏｒｄ zq73190452")) == ["gated"]


# -- normalisation -----------------------------------------------------------------------------


def test_zero_width_characters_inside_a_secret() -> None:
    hidden = GH[:10] + "\u200b" + GH[10:20] + "\u2060\u200d" + GH[20:]
    text = f"token: {hidden}."
    finding = only(text)
    assert text[finding.start : finding.end] == hidden
    assert finding.secret_hash == hashlib.sha256(GH.encode()).hexdigest()


def test_zero_width_characters_inside_a_key() -> None:
    text = f"pass\u200bword = {VALUE}\n"
    finding = only(text)
    assert finding.rule_id == "high-entropy-assignment"
    assert text[finding.start : finding.end] == VALUE


def test_cyrillic_confusables() -> None:
    spoofed = GH.replace("p", "\u0440").replace("a", "\u0430").replace("o", "\u043e")
    assert spoofed != GH
    text = f"leaked {spoofed} here"
    finding = only(text)
    assert text[finding.start : finding.end] == spoofed


def test_fullwidth_forms() -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in AWS)
    text = f"id={wide};"
    finding = only(text)
    assert finding.rule_id == "test-aws"
    assert text[finding.start : finding.end] == wide


def test_combining_mark_after_a_secret_does_not_hide_it() -> None:
    # NFKC composes "e" and the mark into "é", which the rule does not accept; the original
    # text is scanned too, so the secret is still found.
    secret = GH[:-1] + "e"
    text = f"{secret}\u0301 rest"
    finding = only(text)
    assert text[finding.start : finding.end] == secret


def test_combining_mark_next_to_a_secret_inside_long_ascii_text() -> None:
    # Only windows around non-ASCII characters are scanned a second time, unnormalised.
    secret = GH[:-1] + "e"
    filler = ("lorem ipsum dolor sit amet " * 40 + "\n") * 20
    text = f"{filler}ü{filler}leaked {secret}\u0301\n{filler}é{filler}"
    finding = only(text)
    assert text[finding.start : finding.end] == secret
    assert finding.line == text.count("\n", 0, finding.start) + 1


def test_spans_map_back_past_other_non_ascii_text() -> None:
    text = f"héllo wörld 日本語 🎉 {GH} ✓"
    finding = only(text)
    assert text[finding.start : finding.end] == GH
    assert finding.column == text.index(GH) + 1


def test_lone_surrogates_do_not_break_the_scan() -> None:
    text = f"\ud800 odd {GH} \udfff"
    finding = only(text)
    assert text[finding.start : finding.end] == GH


# -- decode and rescan -------------------------------------------------------------------------

PAYLOAD = f"export GITHUB_TOKEN={GH}\n"


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("base64", base64.b64encode(PAYLOAD.encode()).decode()),
        ("base64url", base64.urlsafe_b64encode(b"???" + PAYLOAD.encode()).decode()),
        ("hex", PAYLOAD.encode().hex()),
        ("url", urllib.parse.quote(PAYLOAD, safe="")),
    ],
)
def test_secret_inside_an_encoded_span(encoding: str, encoded: str) -> None:
    text = f"log: {encoded} end"
    findings = [f for f in scanner().scan(text) if f.encoding is not None]
    assert [(f.rule_id, f.encoding) for f in findings] == [("test-github", encoding)]
    assert text[findings[0].start : findings[0].end] == encoded
    assert findings[0].secret_hash == hashlib.sha256(GH.encode()).hexdigest()


def test_base64url_payload_is_really_base64url() -> None:
    encoded = base64.urlsafe_b64encode(b"???" + PAYLOAD.encode()).decode()
    assert "_" in encoded


def test_secret_inside_quoted_printable() -> None:
    encoded = quopri.encodestring(("café=" * 3 + PAYLOAD).encode()).decode()
    findings = [f for f in scanner().scan(encoded) if f.encoding is not None]
    assert [(f.rule_id, f.encoding) for f in findings] == [("test-github", "quoted-printable")]


def test_nested_encodings_report_the_chain_outermost_first() -> None:
    encoded = base64.b64encode(urllib.parse.quote(PAYLOAD, safe="").encode()).decode()
    text = f"blob={encoded}"
    findings = [f for f in scanner().scan(text) if f.rule_id == "test-github"]
    assert [f.encoding for f in findings] == ["base64>url"]
    assert text[findings[0].start : findings[0].end] == encoded


def test_decode_depth_limits_the_chain() -> None:
    encoded = PAYLOAD
    for _ in range(3):
        encoded = base64.b64encode(encoded.encode()).decode()
    assert scanner(decode_depth=2).scan(encoded) == []
    assert [f.encoding for f in scanner(decode_depth=3).scan(encoded)] == ["base64>base64>base64"]
    assert scanner(decode_depth=0).scan(base64.b64encode(PAYLOAD.encode()).decode()) == []


def test_decoded_findings_map_through_normalisation() -> None:
    encoded = base64.b64encode(PAYLOAD.encode()).decode()
    hidden = encoded[:8] + "\u200b" + encoded[8:]
    text = f"é {hidden} é"
    findings = [f for f in scanner().scan(text) if f.encoding == "base64"]
    assert len(findings) == 1
    assert text[findings[0].start : findings[0].end] == hidden


# -- entropy detector --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "DB_PASSWORD={v}\n",  # .env
        'database:\n  password: "{v}"\n',  # YAML
        "  api_key: {v}\n",  # YAML, unquoted
        '{{"client_secret": "{v}", "user": "me"}}',  # JSON
        "[db]\npasswd = {v}\n",  # INI
        'export GITHUB_TOKEN="{v}"\n',  # shell export
        "tool --api-key {v} --verbose",  # CLI flag
        "tool --token={v}",  # CLI flag with =
        "Authorization: Bearer {v}\r\n",  # HTTP header
        "'private_key' => '{v}',",  # PHP
        'accessKey := "{v}"',  # Go
        "<credential>{v}</credential>",  # XML
        "https://host/cb?auth_code=1&access_token={v}&x=1",  # query string
    ],
)
@pytest.mark.parametrize("value", [VALUE, HEX_VALUE])
def test_entropy_detector_finds_random_values_next_to_secret_keys(
    template: str, value: str
) -> None:
    text = template.format(v=value)
    finding = only(text, rules=())
    assert finding.rule_id == "high-entropy-assignment"
    assert finding.service == "generic"
    assert text[finding.start : finding.end] == value


@pytest.mark.parametrize(
    "text",
    [
        f"color = {VALUE}",  # not a secret-like key
        "token = refresh_access_token_handler",  # an identifier
        "password = SettingsSourceCallableFactory",  # CamelCase words
        "token = make_token(seed_value_1234)",  # a call
        "api_key = config.api_key_from_environment_1",  # attribute access
        "password = ${DATABASE_PASSWORD_VALUE_123}",  # template
        f"token = {VALUE[:12]}",  # too short
    ],
)
def test_entropy_detector_ignores_non_secrets(text: str) -> None:
    assert scanner(rules=()).scan(text) == []


PUNCTUATED = f"{fake('pw1', 12)}%{fake('pw2', 8)}#{fake('pw3', 8)}"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f'DB_PASSWORD = "{PUNCTUATED}"\n', PUNCTUATED),  # quoted, with punctuation
        (f"secret: '{PUNCTUATED}'", PUNCTUATED),
        (f"SECRET_KEY=key-{HEX_VALUE[:32]}\n", f"key-{HEX_VALUE[:32]}"),  # hex behind a prefix
        (f"api_key = 0x{HEX_VALUE}", f"0x{HEX_VALUE}"),
        (f"MAILCHIMP_API_KEY={HEX_VALUE[:32]}-us12", f"{HEX_VALUE[:32]}-us12"),  # and a suffix
        (f"token: {fake('lower', 32, string.ascii_lowercase + string.digits)}", None),
        (f"PADDLE_API_KEY=pdl_live_apikey_{fake('pdl', 20)}", None),  # a random part
        (f"TOKEN={'A' * 22}{fake('tw', 80)}", None),  # a long token with a constant part
        (f"README_API_KEY=rdme_{fake('rdme', 70, string.ascii_uppercase)}", None),  # one case
    ],
)
def test_entropy_detector_reads_punctuation_and_prefixed_hex(text: str, secret: str | None) -> None:
    finding = only(text, rules=())
    assert finding.rule_id == "high-entropy-assignment"
    if secret is not None:
        assert text[finding.start : finding.end] == secret


@pytest.mark.parametrize(
    "text",
    [
        "exports.X509AuthorityKeyIDExtension = X509AuthorityKeyIDExtension;",  # names its key
        "exports.SOCKS5_CUSTOM_AUTH_END = SOCKS5_CUSTOM_AUTH_END;",
        'continuation_token="tok_async_stream_warn_1",',  # words joined by _
        "gost_CryptoPro_PrivateKey = id_CryptoPro_modules",
        "#define XXH3_initCustomSecret XXH3_initCustomSecret_avx512",
        'if tokenizer_pre == "granite-embed-multi-311m":',
        "auth_formatter = LocalizedDateFormatter8601",  # CamelCase
        "token_schema = additionalProperties2",
        'api_password = "https://vault.internal.test/v1/secret/data/db2"',  # a URL
        'password_file = "/etc/app/secrets/db_password-2.txt"',  # a path
        'auth_email = "ops.team42@mail.internal.test"',  # an e-mail address
        'password_help = "use at least 8 chars, e.g. %s!"',  # a format string
        f'publicKeyToken="{HEX_VALUE[:16]}"',  # a public key
        "'Authorization': 'OAuth oauth_token=Zk3Jq9Lm2Pw8Xr5Tv7',",  # name=value as the value
        "api_client.api_key = 'auth_tokens/TEST_AUTH_TOKEN'",  # a path of words
        'SUBJECT_TOKEN_TYPE = "urn:example2:params:oauth:token-type:x509"',  # a URN
        'verify_token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."',  # elided example
    ],
)
def test_entropy_detector_ignores_names_urls_and_public_values(text: str) -> None:
    assert scanner(rules=()).scan(text) == []


def test_a_random_part_between_separators_is_enough() -> None:
    value = f"sess_{'0' * 24}_{fake('seg', 24)}"
    assert not looks_random(value.replace("_", ""))  # not random as a whole
    finding = only(f"SESSION_TOKEN={value}", rules=())
    assert finding.rule_id == "high-entropy-assignment"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("backward-compatible", True),  # two words
        ("SOCKS5_CUSTOM_AUTH_END", True),  # words and short numbers
        ("XXH3_initCustomSecret_avx512", True),  # camelCase words
        ("urn:example:params:oauth:token-type:jwt", True),
        ("X509AuthorityKeyIDExtension", True),  # capitalised words
        ("beef-cafe-dead-face-1234", False),  # hex, even when it spells words
        (VALUE, False),
        (fake("b64url", 32, B64URL), False),
        (f"pdl_live_apikey_{fake('pdl', 20)}", False),
    ],
)
def test_identifiers(value: str, expected: bool) -> None:
    assert _entropy.is_identifier(value) is expected


@pytest.mark.parametrize(
    "value",
    [
        "https://Kx9Qz7:W3rT@db.example2.test/q",
        "/srv/app7/Kx9Qz/W3rT8/q.txt",
        "ops.Team42+Kx9@mail7.internal.test",
    ],
)
def test_urls_paths_and_email_addresses_are_not_passwords(value: str) -> None:
    assert not looks_random(value)


def test_entropy_detector_can_be_turned_off() -> None:
    assert scanner(rules=(), entropy=False).scan(f"DB_PASSWORD={VALUE}") == []


def test_rule_finding_wins_over_the_entropy_finding_on_the_same_value() -> None:
    assert ids(scanner().scan(f"GITHUB_TOKEN={GH}")) == ["test-github"]


LOWNUM = string.ascii_lowercase + string.digits


@pytest.mark.parametrize(
    ("length", "alphabet"),
    [(16, HEX), (24, HEX), (20, ALNUM), (64, ALNUM), (20, LOWNUM), (40, LOWNUM), (32, B64URL)],
)
def test_random_values_of_minimum_length_count_as_random(length: int, alphabet: str) -> None:
    values = [fake(f"r{length}-{i}", length, alphabet) for i in range(400)]
    missed = [
        v for v in values if not looks_random(v) or _entropy.is_identifier(v) or is_placeholder(v)
    ]
    # sampling calibrates the tests to miss under 3 % of random values (module docstring)
    assert len(missed) <= 12, missed


# -- false-positive filters --------------------------------------------------------------------

SHA256_HEX = fake("sha256", 64, HEX)
SHA512_B64 = base64.b64encode(hashlib.sha512(b"tau-fake").digest()).decode()
SHA256_B64URL = base64.urlsafe_b64encode(hashlib.sha256(b"tau-fake").digest()).decode().rstrip("=")
UUID = "3f2b8c1e-9d4a-4e7b-a6c5-1f0e2d3c4b5a"


@pytest.mark.parametrize(
    "text",
    [
        f'token_sha256 = "{SHA256_HEX}"',  # a key naming a hash
        f"SHA256_OF_SECRET={SHA256_HEX}",  # ... before its secret word
        f'"auth_token": "sha512-{SHA512_B64}"',  # an SRI digest value
        f"  secret-tool==1.0 --hash=sha256:{SHA256_HEX}",  # pip --hash
        f'{{"name": "auth-lib", "integrity": "sha512-{SHA512_B64}"}}',  # package-lock.json
        f'"auth-lib@^1.0.0":\n  integrity sha512-{SHA512_B64}\n',  # yarn.lock
        f'name = "secret-service"\nchecksum = "{SHA256_HEX}"\n',  # Cargo.lock
        f'{{file = "token-1.0.tar.gz", hash = "sha256:{SHA256_HEX}"}}',  # poetry / uv lock
        f"  resolution: {{integrity: sha512-{SHA512_B64}}}\n",  # pnpm-lock.yaml
        f"secret_tool/token.py,sha256={SHA256_B64URL},2048\n",  # pip RECORD
        f"api_key: {UUID}",  # UUID
        f"secret_key = {{{UUID}}}",  # braced UUID
        f"deploy_token_commit = {HEX_VALUE}",  # git object id named by the key
        f"TOKEN_REF={HEX_VALUE}",
        f"parent_token: {HEX_VALUE}",
        f"GITHUB_SHA={HEX_VALUE}",
    ],
)
def test_digests_uuids_and_git_ids_are_not_secrets(text: str) -> None:
    assert scanner().scan(text) == []


@pytest.mark.parametrize(
    "text",
    [
        f"secret_tool/token.py,sha256={SHA256_B64URL},2048",
        f"--hash=sha256:{SHA256_HEX}",
        f'"integrity": "sha512-{SHA512_B64}"',
        f"checksum = {SHA256_HEX}",
        f"api_key: {UUID}",
    ],
)
def test_the_generic_rule_would_fire_without_the_filters(text: str) -> None:
    # Shows the digest cases above reach the filters rather than missing the rule.
    generic = Rule(RULES[2].id, "generic", RULES[2].pattern, RULES[2].keywords)
    assert ids(SecretScanner([generic], entropy=False).scan(text)) == ["test-generic"]


def test_hash_and_git_filters_directly() -> None:
    assert in_hash_context(SHA256_HEX, "token_sha256", "", "")
    assert in_hash_context("sha512-" + SHA512_B64, "auth_token", "", "")
    assert in_hash_context(SHA256_HEX, "", "x --hash=sha256:", "")
    assert in_hash_context(SHA256_B64URL, "", "", f"a/b.py,sha256={SHA256_B64URL},12")
    assert not in_hash_context(VALUE, "api_token", 'api_token = "', f'api_token = "{VALUE}"')
    assert not in_hash_context(VALUE, "shadow_password", "", "")
    assert is_git_object_id(HEX_VALUE, "parent", "")
    assert is_git_object_id(HEX_VALUE, "x", f"commit {HEX_VALUE}")
    assert is_git_object_id(HEX_VALUE, "x", f"{HEX_VALUE[:7]} fix the token refresh")
    assert not is_git_object_id(HEX_VALUE, "auth_header", "X-Auth-Header: ...")
    assert not is_git_object_id(SHA256_HEX[:32], "commit", "")


@pytest.mark.parametrize(
    "value",
    [
        "Zk3Jq9xxxxLm2Pw8Xr5Tv7Nb4Hc6",
        "AKIAIOSFODNN7EXAMPLE",
        "Zk3Jq9example2Pw8Xr5Tv7Nb4Hc",
        "your_api_key_Q7w3Zk9Lp2Xm",
        "ChangeMe_Q7w3Zk9Lp2Xm4Rt8Yu",
        "dummy_Q7w3Zk9Lp2Xm4Rt8Yu1Io",
        "REDACTED_Q7w3Zk9Lp2Xm4Rt8Yu",
        "[REDACTED]",
        "********************",
        "<your-token-here>",
        "${GITHUB_TOKEN}",
        "{{ secrets.api_key }}",
        "%(password)s",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababab",
        "abcdef123456",
        "0123456789abcdefghijklmnop",
        "ABCDEFGHIJKLMNOPQRSTUVWX",
    ],
)
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", [VALUE, HEX_VALUE, GH, AWS, SHA512_B64])
def test_random_values_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


@pytest.mark.parametrize(
    "value",
    [
        "Zk3Jq9xxxxLm2Pw8Xr5Tv7Nb4Hc6",
        "Zk3Jq9EXAMPLE2Pw8Xr5Tv7Nb4Hc",
        "your_api_key_Q7w3Zk9Lp2Xm",
        "0123456789abcdefghijklmnopqrst",
    ],
)
def test_placeholders_next_to_secret_keys_are_dropped(value: str) -> None:
    # random enough for the detector, so only the placeholder filter drops them
    assert looks_random(value) or value.startswith("your")
    assert scanner(rules=()).scan(f"API_KEY={value}") == []


PASSWORD_FIELD = Rule("test-field", "X", r"(?i)password_field\s*=\s*(\S{8,})", ("password_field",))


@pytest.mark.parametrize(
    "value",
    [
        "${DB_PASSWORD}",
        "{{ db_password }}",
        "%(db_password)s",
        "<password>",
        "changeme",
        "[REDACTED]",
        "xxxxxxxxxxxx",
        "************",
        "example-password",
    ],
)
def test_rule_findings_that_are_placeholders_are_dropped(value: str) -> None:
    s = SecretScanner([PASSWORD_FIELD], entropy=False)
    assert s.scan(f"password_field = {value}") == []
    assert ids(s.scan(f"password_field = {VALUE}")) == ["test-field"]


def test_aws_documentation_example_key_is_a_placeholder() -> None:
    assert scanner().scan("aws_access_key_id = AKIAIOSFODNN7EXAMPLE") == []
    assert ids(scanner().scan(f"aws_access_key_id = {AWS}")) == ["test-aws"]


def test_min_entropy_drops_low_entropy_rule_candidates() -> None:
    rule = Rule("low", "X", r"\b(zq[a-z0-9]{20})\b", min_entropy=3.5)
    s = SecretScanner([rule], entropy=False)
    assert s.scan("zq" + "ab" * 10) == []
    assert ids(s.scan("zq" + fake("low", 20, HEX + "ghijklmnop"))) == ["low"]


# -- known values ------------------------------------------------------------------------------

KNOWN = "tau-fake-" + fake("known", 20)


def encodings_of(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(b"\xfb\xff" + raw).decode()[4:],
        "hex": raw.hex(),
        "url": urllib.parse.quote(value + "/+&", safe=""),
    }


def test_known_value_found_raw_whatever_its_format() -> None:
    odd = "pässwörd with spaces & symbols!"
    s = SecretScanner((), entropy=False, extra_values=[KNOWN, odd])
    text = f"a {KNOWN} b {odd} c"
    findings = s.scan(text)
    assert [(f.rule_id, f.service) for f in findings] == [("known-secret", "credential store")] * 2
    assert [text[f.start : f.end] for f in findings] == [KNOWN, odd]


@pytest.mark.parametrize("encoding", ["base64", "hex", "url"])
def test_known_value_found_encoded_without_decoding(encoding: str) -> None:
    value = KNOWN + "/+&" if encoding == "url" else KNOWN
    encoded = encodings_of(KNOWN)[encoding]
    s = SecretScanner((), entropy=False, decode_depth=0, extra_values=[value])
    text = f"x {encoded} y"
    findings = s.scan(text)
    assert [(f.rule_id, f.encoding) for f in findings] == [("known-secret", encoding)]
    assert findings[0].secret_hash == hashlib.sha256(value.encode()).hexdigest()
    assert KNOWN[:8] not in s.redact(text)[0]


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_known_value_found_inside_a_longer_base64_blob_at_any_alignment(offset, encode) -> None:
    blob = encode(b"\xff" * offset + b"prefix " + KNOWN.encode() + b" suffix\xfe").decode()
    s = SecretScanner((), entropy=False, decode_depth=0, extra_values=[KNOWN])
    findings = s.scan(f"data: {blob}")
    assert ids(findings) == ["known-secret"]
    redacted = s.redact(f"data: {blob}")[0]
    # the characters left around the redaction decode to nothing of the value
    for left in redacted.split("[REDACTED]"):
        tail = left.removeprefix("data: ")
        for cut in range(4):
            piece = tail[cut:]
            decoded = base64.b64decode(piece[: len(piece) // 4 * 4] + "==", altchars=b"-_")
            assert KNOWN[:4].encode() not in decoded


def test_known_value_json_escaped() -> None:
    value = 'line one\nline "two"\t' + fake("json", 12)
    s = SecretScanner((), entropy=False, extra_values=[value])
    text = json.dumps({"output": value})
    assert ids(s.scan(text)) == ["known-secret"]


def test_known_value_inside_decoded_text() -> None:
    blob = base64.b64encode(f"user:{KNOWN}".encode()).decode()
    s = SecretScanner((), entropy=False, extra_values=[KNOWN])
    findings = s.scan(f"Authorization: Basic {blob}")
    assert {(f.rule_id, f.encoding) for f in findings} >= {("known-secret", "base64")}


def test_values_added_later_are_found_and_short_ones_ignored() -> None:
    s = SecretScanner((), entropy=False)
    assert s.scan(f"a {KNOWN} b") == []
    s.add_value(KNOWN)
    s.add_value("abc")
    assert ids(s.scan(f"a {KNOWN} b abc")) == ["known-secret"]
    s.add_value(KNOWN)  # idempotent
    assert len(s.scan(f"a {KNOWN} b")) == 1


def test_thousands_of_known_values() -> None:
    values = [f"tau-fake-{fake(str(i), 16)}" for i in range(3000)]
    s = SecretScanner((), entropy=False, extra_values=values)
    text = "noise " * 20_000 + values[1234] + " " + base64.b64encode(values[2345].encode()).decode()
    findings = s.scan(text)
    assert [(f.rule_id, f.encoding) for f in findings] == [
        ("known-secret", None),
        ("known-secret", "base64"),
    ]
    assert findings[0].secret_hash == hashlib.sha256(values[1234].encode()).hexdigest()


def test_known_value_wins_over_a_rule_on_the_same_span() -> None:
    s = SecretScanner(RULES, extra_values=[GH])
    assert ids(s.scan(f"token {GH}")) == ["known-secret"]


# -- redaction ---------------------------------------------------------------------------------


def test_redact_replaces_only_the_secret() -> None:
    text = f"GITHUB_TOKEN={GH} and password: {VALUE}\n"
    redacted, findings = scanner().redact(text)
    assert redacted == "GITHUB_TOKEN=[REDACTED] and password: [REDACTED]\n"
    assert len(findings) == 2


def test_redact_merges_overlapping_findings_and_uses_the_replacement() -> None:
    s = SecretScanner(RULES, extra_values=[GH[:20], GH[10:30]])
    redacted, findings = s.redact(f"<{GH}>", replacement="***")
    assert redacted == "<***>"
    assert len(findings) >= 1


def test_redact_replaces_the_whole_encoded_span() -> None:
    encoded = base64.b64encode(PAYLOAD.encode()).decode()
    redacted, _ = scanner().redact(f"a {encoded} b")
    assert redacted == "a [REDACTED] b"


def test_redact_without_secrets_returns_the_text_unchanged() -> None:
    text = "nothing to see here\n" * 10
    assert scanner().redact(text) == (text, [])


def _substrings(secret: str, n: int = 8) -> set[str]:
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


PLANTED = {
    "rule": GH,
    "known": KNOWN,
    "entropy": VALUE,
    "encoded": base64.b64encode(f"key {AWS}\n".encode()).decode(),
}
_SECRET_OF = {"rule": GH, "known": KNOWN, "entropy": VALUE, "encoded": AWS}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.text(max_size=80),
    after=st.text(max_size=80),
    kinds=st.lists(st.sampled_from(sorted(PLANTED)), min_size=1, max_size=4),
    separator=st.sampled_from([" ", "\n", "\t", " | ", '"', "'", ", "]),
)
def test_redact_leaves_no_part_of_a_planted_secret(before, after, kinds, separator) -> None:
    s = SecretScanner(RULES, extra_values=[KNOWN])
    pieces = [before]
    for kind in kinds:
        planted = PLANTED[kind]
        pieces.append(f"password={planted}" if kind == "entropy" else planted)
    pieces.append(after)
    redacted, _ = s.redact(separator.join(pieces))
    for kind in kinds:
        secret = _SECRET_OF[kind]
        source = PLANTED[kind]
        for piece in _substrings(secret) | _substrings(source):
            assert piece not in redacted, (kind, piece)


# -- pathological inputs -----------------------------------------------------------------------


def test_ten_megabyte_line_of_one_character() -> None:
    s = scanner(extra_values=[KNOWN])
    assert s.scan("a" * 10_000_000) == []
    assert s.scan("=" * 1_000_000 + GH) != []


def test_megabytes_of_keyword_soup_complete() -> None:
    soup = "password=token:secret api_key auth " * 30_000
    assert scanner().scan(soup) == []


def test_five_megabyte_base64_run() -> None:
    random_bytes = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(120_000))
    run = base64.b64encode(random_bytes).decode()
    assert len(run) > 5_000_000
    assert scanner().scan(run) == []
    readable = base64.b64encode((f"{GH} " * 40_000).encode()).decode()
    findings = scanner().scan(readable)
    assert findings
    assert {f.encoding for f in findings} == {"base64"}


def test_deeply_nested_base64_respects_the_depth_limit() -> None:
    encoded = PAYLOAD
    for _ in range(10):
        encoded = base64.b64encode(encoded.encode()).decode()
    findings = scanner().scan(f"x {encoded} y")
    assert all(f.encoding is None or f.encoding.count(">") < 2 for f in findings)
    assert not [f for f in findings if f.rule_id == "test-github"]
    deep = scanner(decode_depth=10).scan(f"x {encoded} y")
    assert [f.encoding for f in deep if f.rule_id == "test-github"] == [">".join(["base64"] * 10)]


def test_many_invisible_characters_complete() -> None:
    text = ("\u200b" * 1000 + "x ") * 1000 + GH
    finding = only(text)
    assert text[finding.start : finding.end] == GH


def test_entropy_module_exposes_its_rule_id() -> None:
    assert _entropy.ENTROPY_RULE_ID == "high-entropy-assignment"
