"""The canary: secrets planted everywhere a run touches never reach TAU_HOME or the CLI.

A seeded generator builds synthetic secrets of many formats (AWS key pair, GitHub, Stripe,
Slack, OpenAI project key, a PEM private key, a JWT, a database URL password, a high-entropy
``.env`` password, a GitHub token only present base64-encoded) plus two credential-store
values with no recognisable format (20 lowercase letters), stored with ``tau keys set`` under
the passphrase backend. One of them is injected into the ``shell`` tool; the other only sits
in a file the agent reads, in the verifier's output and in the model's answer, so nothing but
the store can tell it is a secret.

The secrets then flow through every channel of a real ``tau run`` (a subprocess of the real
CLI, the scripted model, tau-tools and tau-safety from their entry points):

* files the agent reads with ``read`` and searches with ``grep``, and ``shell`` output
  (``cat``, ``printenv`` of the injected secret, a ``cp`` that puts a secret in the diff);
* the model's answers and tool-call arguments (core redacts a response before anything
  uses it, so a tool receives ``[REDACTED]`` where the model wrote a secret);
* tools of ``tests/tau_canary_plugin.py``: an echo that also logs on a Tau logger, structured
  JSON output, a plain exception and a ``ToolError`` whose messages carry secrets;
* the ``command`` verifier's output.

After the run (plain and ``--json``), ``tau sessions show``, ``tau sessions replay``,
``tau audit show`` and ``tau audit verify``, every byte under ``TAU_HOME`` (the SQLite
journal with its -wal/-shm files, the credential store, the config), every row of the journal
and every CLI output is searched for each secret: its full value, a distinctive 12-character
middle, and its base64 (at every byte alignment), hex, JSON-escaped and URL-encoded forms.
Zero hits. The test also proves the secrets did reach the tools (the canary tools log what
they really got to a file outside ``TAU_HOME``) and that ``[REDACTED]`` took their place.

The second test runs the same task with tau-safety left out (``TAU_PLUGINS`` without
``safety``) and finds the pattern-only secrets under ``TAU_HOME``: the canary can fail. The
credential-store value injected into ``shell`` stays redacted there too (core's own floor
registers every injected credential); the store value that was only read from a file leaks,
because only tau-safety registers the whole store with the run's redactor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import random
import shutil
import sqlite3
import string
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TAU = Path(sys.executable).with_name("tau")
HERE = Path(__file__).resolve().parent
PLUGIN = "tau_canary_plugin"
SEED = 20260521
REDACTED = "[REDACTED]"
ALNUM = string.ascii_letters + string.digits
BASE32 = string.ascii_uppercase + "234567"  # AWS key ids are base32

# Secrets a pattern (or the entropy detector) can recognise.
PATTERN_SECRETS = (
    "aws_key_id",
    "aws_secret",
    "github",
    "github_b64",
    "stripe",
    "slack",
    "openai",
    "pem",
    "jwt",
    "postgres_password",
    "env_password",
)
# Credential-store values: no format; only the store knows them.
STORE_INJECTED = "store_injected"  # handed to the shell tool: core's floor redacts it
STORE_FILE = "store_file"  # only read from a file: tau-safety registers the store's values


# -- synthetic secrets --------------------------------------------------------------------------


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _word(rng: random.Random) -> str:
    """20 lowercase letters that read like a word: no pattern could call it a secret."""
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(10))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(rng: random.Random) -> str:
    der = bytes.fromhex("308204a40201000282010100") + rng.randbytes(1180)
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"])


def _jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": _pick(rng, ALNUM, 16), "name": "Canary Test", "iat": 1700000000}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def make_secrets(seed: int = SEED) -> dict[str, str]:
    """The canaries, synthetic and realistic in shape."""
    rng = random.Random(seed)
    token = ALNUM + "_-"
    return {
        "aws_key_id": "AKIA" + _pick(rng, BASE32, 16),
        "aws_secret": _pick(rng, ALNUM + "/+", 40),
        "github": "ghp_" + _pick(rng, ALNUM, 36),
        "github_b64": "ghp_" + _pick(rng, ALNUM, 36),
        "stripe": "sk_live_" + _pick(rng, ALNUM, 32),
        "slack": "xoxb-"
        + "-".join((_pick(rng, string.digits, 12), _pick(rng, string.digits, 13)))
        + f"-{_pick(rng, ALNUM, 24)}",
        "openai": "sk-proj-" + _pick(rng, token, 74) + "T3BlbkFJ" + _pick(rng, token, 74),
        "pem": _pem(rng),
        "jwt": _jwt(rng),
        "postgres_password": _pick(rng, ALNUM, 24),
        "env_password": _pick(rng, ALNUM, 32),
        STORE_INJECTED: _word(rng),
        STORE_FILE: _word(rng),
        "passphrase": _pick(rng, ALNUM, 24),  # the store's passphrase: in no file, ever
    }


def _core(name: str, value: str) -> str:
    """The part of *value* its distinctive middle is taken from (a PEM's body line)."""
    return value.splitlines()[5] if name == "pem" else value


def _b64_forms(data: bytes) -> Iterator[bytes]:
    """*data* base64-encoded at each byte alignment, only the characters it fully decides."""
    for shift in range(3):
        first = -(-8 * shift // 6)  # ceil
        last = (8 * shift + 8 * len(data)) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            yield encode(b"\0" * shift + data + b"\0\0")[first:last]


def needles(name: str, value: str) -> dict[str, bytes]:
    """Every form of one secret to search for, by form name."""
    raw = value.encode()
    core = _core(name, value)
    mid = len(core) // 2
    forms = {
        "value": raw,
        "middle": core[mid - 6 : mid + 6].encode(),
        "json": json.dumps(value)[1:-1].encode(),
        "url": urllib.parse.quote(value, safe="").encode(),
        "hex": binascii.hexlify(raw),
        "HEX": binascii.hexlify(raw).upper(),
    }
    for i, form in enumerate(_b64_forms(raw)):
        forms[f"base64[{i}]"] = form
    unique: dict[bytes, str] = {}
    for form_name, needle in forms.items():
        unique.setdefault(needle, form_name)
    return {form_name: needle for needle, form_name in unique.items()}


# -- the working directory and the script ------------------------------------------------------


def make_workdir(work: Path, s: dict[str, str]) -> None:
    files = {
        "config/aws.ini": "[default]\n"
        f"aws_access_key_id = {s['aws_key_id']}\n"
        f"aws_secret_access_key = {s['aws_secret']}\n"
        "region = eu-west-1\n",
        ".env": f'APP_ENV=production\npassword = "{s["env_password"]}"\nSTRIPE_KEY={s["stripe"]}\n',
        "config/database.yml": "production:\n"
        f"  url: postgres://app_user:{s['postgres_password']}@db.internal.example:5432/app\n",
        "deploy/id_rsa": s["pem"] + "\n",
        "k8s/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci-token\n"
        "type: Opaque\ndata:\n"
        f"  token: {base64.b64encode(s['github_b64'].encode()).decode()}\n",
        "notes/handover.md": "# Handover\n\n"
        f"The staging door code is {s[STORE_FILE]}; ask Sam before changing it.\n",
        "notes/verify.txt": "deploy check ok\n"
        f"door code {s[STORE_FILE]}\n"
        f"stripe {s['stripe']}\n"
        f"aws_secret_access_key = {s['aws_secret']}\n",
    }
    for rel, text in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


READS = {  # file -> text its read result must still show (the read worked)
    "config/aws.ini": "region = eu-west-1",
    ".env": "APP_ENV=production",
    "config/database.yml": "db.internal.example",
    "deploy/id_rsa": "",
    "k8s/secret.yaml": "kind: Secret",
    "notes/handover.md": "ask Sam before changing it",
}


def make_script(s: dict[str, str]) -> dict[str, Any]:
    def call(name: str, **arguments: Any) -> dict[str, Any]:
        return {"name": name, "arguments": arguments}

    return {
        "turns": [
            {
                "text": f"Looking around. I will need the Stripe key {s['stripe']} later.",
                "tool_calls": [call("read", path=p) for p in READS],
            },
            {
                "text": "Searching and copying.",
                "tool_calls": [
                    call("grep", pattern="password|postgres|token", path="."),
                    call("shell", command="cat deploy/id_rsa .env config/aws.ini"),
                    call("shell", command="printenv STORE_INJECTED", secrets=[STORE_INJECTED]),
                    call(
                        "shell",
                        command="printenv STORE_INJECTED | sha256sum",
                        secrets=[STORE_INJECTED],
                    ),
                    call("shell", command="cp .env env.backup"),
                ],
            },
            {
                "text": f"The session JWT is {s['jwt']} and the bot token is {s['slack']}.",
                "tool_calls": [
                    call("canary_echo", text=f"openai {s['openai']}\n{s['pem']}"),
                    call("canary_vault"),
                    call("canary_crash"),
                    call("canary_refuse"),
                ],
            },
            {
                "text": f"Done. The database password is {s['postgres_password']}, the key id "
                f"{s['aws_key_id']}, the door code {s[STORE_FILE]}, the injected value "
                f"{s[STORE_INJECTED]}.",
            },
        ]
    }


# -- running the CLI ---------------------------------------------------------------------------


class Canary:
    """One canary setup: TAU_HOME, the secrets, the script, and every CLI output so far."""

    def __init__(self, root: Path, *, safety: bool) -> None:
        self.root = root
        self.home = root / "home"
        self.secrets = make_secrets()
        self.secrets_file = root / "canary_secrets.json"
        self.raw_file = root / "canary_raw.jsonl"
        self.script = root / "script.json"
        self.outputs: dict[str, bytes] = {}
        self.outcome: dict[str, Any] = {}
        self.home.mkdir()
        (self.home / "config.toml").write_text('[credentials]\nbackend = "passphrase"\n')
        self.secrets_file.write_text(json.dumps(self.secrets))
        self.script.write_text(json.dumps(make_script(self.secrets)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAU_")}
        env.update(
            TAU_HOME=str(self.home),
            TAU_PASSPHRASE=self.secrets["passphrase"],
            CANARY_SECRETS=str(self.secrets_file),
            CANARY_RAW=str(self.raw_file),
            # Confined when a sandbox works here (bubblewrap, landlock); this test is about
            # leaks, so it still runs on a host where none does.
            TAU_SHELL_ALLOW_UNCONFINED="1",
            PYTHONPATH=os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p),
        )
        if not safety:
            env["TAU_PLUGINS"] = "core,provider,tools,memory"
        self.env = env
        for name in (STORE_INJECTED, STORE_FILE):
            self.tau("keys", "set", name, "--json", stdin=self.secrets[name])

    def tau(self, *args: str, stdin: str | None = None, expect: int = 0, label: str = "") -> str:
        proc = subprocess.run(
            [str(TAU), "-p", PLUGIN, *args],
            env=self.env,
            cwd=self.root,
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            timeout=300,
        )
        label = label or "tau " + " ".join(args)
        self.outputs[f"{label} [stdout]"] = proc.stdout
        self.outputs[f"{label} [stderr]"] = proc.stderr
        assert proc.returncode == expect, (
            f"{label}: exit {proc.returncode}\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
        )
        return proc.stdout.decode()

    def run(self, run_id: str, *extra: str) -> str:
        work = self.root / run_id
        work.mkdir()
        make_workdir(work, self.secrets)
        return self.tau(
            "run",
            "tidy the deployment notes",
            "--model",
            f"scripted:{self.script}",
            "--workdir",
            str(work),
            "--run-id",
            run_id,
            "--allow",
            "read:.",
            "--allow",
            "write:.",
            *("--allow", "exec:cat", "--allow", "exec:printenv"),
            *("--allow", "exec:sha256sum", "--allow", "exec:cp"),
            *("--allow", f"secret:{STORE_INJECTED}@shell"),
            "--verify",
            "cat notes/verify.txt",
            *extra,
            label=f"tau run {run_id} {' '.join(extra)}".strip(),
        )

    def raw_tool_log(self) -> str:
        return self.raw_file.read_text(encoding="utf-8") if self.raw_file.exists() else ""

    # -- where secrets could be -----------------------------------------------------------------

    def sinks(self) -> dict[str, bytes]:
        """Every byte under TAU_HOME, every journal row, every CLI output, by label."""
        found: dict[str, bytes] = {}
        for path in sorted(self.home.rglob("*")):
            if path.is_file():
                found[f"file {path.relative_to(self.home)}"] = path.read_bytes()
        db = self.home / "journal.sqlite3"
        if db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                for run_id, spec in conn.execute("SELECT run_id, spec FROM runs"):
                    found[f"journal runs[{run_id}].spec"] = spec.encode()
                rows = conn.execute("SELECT run_id, seq, kind, key, data FROM events ORDER BY 1, 2")
                for run_id, seq, kind, key, data in rows:
                    found[f"journal {run_id} event {seq} kind={kind} key={key}"] = (
                        f"{key}\n{data}".encode()
                    )
            finally:
                conn.close()
        for label, data in self.outputs.items():
            found[f"cli {label}"] = data
        return found

    def hits(self, names: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """(sink, secret name, form) for every form of every named secret found in a sink."""
        out: list[tuple[str, str, str]] = []
        sinks = self.sinks()
        for name in names:
            for form, needle in needles(name, self.secrets[name]).items():
                out.extend((label, name, form) for label, data in sinks.items() if needle in data)
        return out


def _report(hits: list[tuple[str, str, str]]) -> str:
    """One line per sink: which secrets, in which forms."""
    by_sink: dict[str, dict[str, list[str]]] = {}
    for label, name, form in hits:
        by_sink.setdefault(label, {}).setdefault(name, []).append(form)
    lines = [
        f"  {label}: " + ", ".join(f"{n} ({'/'.join(forms)})" for n, forms in names.items())
        for label, names in by_sink.items()
    ]
    return f"secrets leaked into {len(by_sink)} sink(s):\n" + "\n".join(lines)


def _results(outcome: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for entry in outcome["evidence"]["tool_calls"]:
        by_tool.setdefault(entry["call"]["name"], []).append(entry)
    return by_tool


RUNS = ("canary-plain", "canary-json")
EVERY_SECRET = (*PATTERN_SECRETS, STORE_INJECTED, STORE_FILE, "passphrase")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Canary:
    """Both runs with tau-safety, then every read-only command on them."""
    if shutil.which("bash") is None:
        pytest.skip("the shell tool needs bash")
    canary = Canary(tmp_path_factory.mktemp("canary"), safety=True)
    canary.run("canary-plain")
    canary.outcome = json.loads(canary.run("canary-json", "--json"))
    for run_id in RUNS:
        canary.tau("sessions", "show", run_id, "--json")
        canary.tau("sessions", "show", run_id)
        canary.tau("sessions", "replay", run_id, "--json")
        canary.tau("audit", "show", run_id, "--json")
        canary.tau("audit", "show", run_id)
        canary.tau("audit", "verify", run_id)
        canary.tau("audit", "verify", run_id, "--json")
    canary.tau("keys", "list", "--json")
    return canary


def test_canary_runs_are_verified_and_their_audit_chains_hold(guarded: Canary) -> None:
    outcome = guarded.outcome
    assert (outcome["status"], outcome["reason"]) == ("verified", None), outcome["summary"]
    assert outcome["evidence"]["plugin_errors"] == []
    for run_id in RUNS:
        shown = json.loads(guarded.outputs[f"tau sessions show {run_id} --json [stdout]"])
        assert shown["outcome"]["status"] == "verified"
        check = json.loads(guarded.outputs[f"tau audit verify {run_id} --json [stdout]"])
        assert check["ok"] is True and check["events"] > 10, check
        assert "chain intact" in guarded.outputs[f"tau audit verify {run_id} [stdout]"].decode()
        audit = json.loads(guarded.outputs[f"tau audit show {run_id} --json [stdout]"])
        sinks = {e["data"].get("sink") for e in audit if e["kind"] == "redaction"}
        assert "tool_result" in sinks, audit


def test_canary_secrets_reached_the_tools_and_were_replaced(guarded: Canary) -> None:
    """The run really carried every secret: a missing channel must not pass as no leak."""
    s, outcome = guarded.secrets, guarded.outcome
    # The canary tools held the raw values (their own log, outside TAU_HOME)...
    raw = guarded.raw_tool_log()
    for name in ("openai", "slack", "jwt", "stripe", "github", "aws_key_id", "aws_secret"):
        assert json.dumps(s[name])[1:-1] in raw, f"{name} never reached a canary tool"
    # (what the model puts in a call's arguments is redacted before the tool runs)
    echoed = [json.loads(line) for line in raw.splitlines()]
    assert {"tool": "canary_echo", "arguments": {"text": f"openai {REDACTED}\n{REDACTED}"}} in (
        echoed
    )
    # ...the injected store value reached the sandbox (its digest came back)...
    results = _results(outcome)
    digest = hashlib.sha256(s[STORE_INJECTED].encode() + b"\n").hexdigest()
    shells = [r["result"]["content"] for r in results["shell"]]
    assert digest in shells[2], shells
    # ...and [REDACTED] took the place of what the files, tools, model and verifier carried.
    reads = {r["call"]["arguments"]["path"]: r["result"] for r in results["read"]}
    for path, marker in READS.items():
        assert reads[path]["error"] is None, reads[path]
        assert marker in reads[path]["content"], reads[path]["content"]
        assert REDACTED in reads[path]["content"], f"{path}: {reads[path]['content']}"
    assert "region = eu-west-1" in shells[0] and REDACTED in shells[0], shells
    assert shells[1] == f"exit code: 0\nstdout:\n{REDACTED}\n", shells
    assert REDACTED in results["grep"][0]["result"]["content"]
    for tool in ("canary_echo", "canary_vault", "canary_crash", "canary_refuse"):
        assert REDACTED in json.dumps(results[tool][0]["result"]), results[tool]
    assert results["canary_crash"][0]["result"]["error"]["code"] == "tool_crashed"
    assert results["canary_refuse"][0]["result"]["error"]["code"] == "canary_rejected"
    verifier = outcome["evidence"]["verifier_results"][0]
    assert verifier["status"] == "green", verifier
    assert "deploy check ok" in verifier["stdout_tail"] and REDACTED in verifier["stdout_tail"]
    assert outcome["evidence"]["changed_files"] == ["env.backup"]
    logged = guarded.outputs["tau run canary-json --json [stderr]"].decode()
    assert f"canary_echo is using the token {REDACTED}" in logged, logged


def test_canary_no_secret_reaches_tau_home_or_the_cli(guarded: Canary) -> None:
    """Zero hits of any form of any secret, in any byte under TAU_HOME or any CLI output."""
    hits = guarded.hits(EVERY_SECRET)
    assert not hits, _report(hits)


# The three tests below single out the leaks the canary found when it was written; each is
# also covered by the test above, and names one sink for whoever fixes it.


def test_canary_workdir_snapshot_holds_no_secret(guarded: Canary) -> None:
    """The ``run_started`` event keeps the text of small files of the working directory."""
    hits = [h for h in guarded.hits(EVERY_SECRET) if "kind=run_started" in h[0]]
    assert not hits, _report(hits)


def test_canary_diff_holds_no_secret(guarded: Canary) -> None:
    """``cp .env env.backup`` puts a new file full of secrets in the run's diff."""
    hits = [h for h in guarded.hits(EVERY_SECRET) if "kind=diff" in h[0]]
    assert not hits, _report(hits)


def test_canary_secret_repeated_by_the_model_is_redacted(guarded: Canary) -> None:
    """The model's last answer repeats the database password, bare, after a tool result
    showed it inside a postgres URL: a secret the run has already found stays found."""
    hits = [h for h in guarded.hits(EVERY_SECRET) if "kind=model_response" in h[0]]
    assert not hits, _report(hits)


def test_canary_store_value_has_no_recognisable_format() -> None:
    """Only the store can know the store values; a pattern finds each of the others."""
    from tau_safety._secrets import SecretScanner

    s = make_secrets()
    scanner = SecretScanner()
    for name in (STORE_INJECTED, STORE_FILE):
        line = f"The staging door code is {s[name]}; ask Sam before changing it."
        assert scanner.scan(line) == [], name
    in_context = {
        "aws_secret": f"aws_secret_access_key = {s['aws_secret']}",
        "postgres_password": f"postgres://app_user:{s['postgres_password']}@db.example/app",
        "env_password": f'password = "{s["env_password"]}"',
        "github_b64": f"  token: {base64.b64encode(s['github_b64'].encode()).decode()}",
    }
    for name in PATTERN_SECRETS:
        assert scanner.scan(in_context.get(name, s[name])), f"no rule finds {name}"


def test_canary_can_fail_without_tau_safety(tmp_path: Path) -> None:
    """The same run without tau-safety leaks what only patterns (and the store) know."""
    if shutil.which("bash") is None:
        pytest.skip("the shell tool needs bash")
    canary = Canary(tmp_path, safety=False)
    outcome = json.loads(canary.run("bare", "--json"))
    assert (outcome["status"], outcome["reason"]) == ("verified", None), outcome["summary"]
    listed = canary.tau("plugins", "list").splitlines()
    assert [line.split()[1] for line in listed if line.startswith("safety ")] == ["blocked"]

    # Every pattern-only secret, and the store value that was only read from a file, reach
    # TAU_HOME through the tool results, the model's answers and the verifier's output...
    in_home = {
        name
        for label, name, _ in canary.hits((*PATTERN_SECRETS, STORE_FILE))
        if label.startswith("journal ") and "kind=run_started" not in label
    }
    assert in_home == {*PATTERN_SECRETS, STORE_FILE}
    # ...while core's floor still redacts the store value it injected into the shell tool.
    assert canary.hits((STORE_INJECTED, "passphrase")) == []
    shells = [r["result"]["content"] for r in _results(outcome)["shell"]]
    assert shells[1] == f"exit code: 0\nstdout:\n{REDACTED}\n", shells
